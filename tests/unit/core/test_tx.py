"""The transaction builder generates names and values from the expressions' placeholders."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core import tx

KEY = {"pk": "ORDER#1", "sk": "META"}


def test_an_update_names_its_attributes_and_values_from_the_placeholders() -> None:
    # When an update uses #status and :paid / :pending
    action = tx.update(
        "t", KEY, "SET #status = :paid", condition="#status = :pending", paid="paid", pending="p"
    )
    # Then the action carries exactly those names and serialised values
    assert action == {
        "Update": {
            "TableName": "t",
            "Key": {"pk": {"S": "ORDER#1"}, "sk": {"S": "META"}},
            "UpdateExpression": "SET #status = :paid",
            "ConditionExpression": "#status = :pending",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":paid": {"S": "paid"}, ":pending": {"S": "p"}},
        }
    }


def test_a_put_without_condition_has_no_placeholder_maps() -> None:
    action = tx.put("t", {**KEY, "n": 1})
    assert action == {
        "Put": {"TableName": "t", "Item": {"pk": {"S": "ORDER#1"}, "sk": {"S": "META"}, "n": {"N": "1"}}}
    }


def test_odd_attribute_names_are_mapped_explicitly_and_old_images_requested() -> None:
    action = tx.check("t", KEY, "attribute_exists(#u)", names={"#u": "rx:🔥"}, return_old_on_failure=True)
    body = action["ConditionCheck"]
    assert body["ExpressionAttributeNames"] == {"#u": "rx:🔥"}
    assert body["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert "ExpressionAttributeValues" not in body


@pytest.mark.parametrize(
    ("expression", "vals"),
    [("SET a = :a", {}), ("SET a = :a", {"a": 1, "b": 2})],
    ids=["missing value", "unused value"],
)
def test_a_placeholder_typo_fails_loudly(expression: str, vals: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="value"):
        tx.update("t", KEY, expression, **vals)


def test_single_writes_use_the_same_shapes() -> None:
    method, kwargs = tx.single(tx.delete("t", KEY, condition="attribute_exists(pk)"))
    assert method == "delete_item"
    assert kwargs["ConditionExpression"] == "attribute_exists(pk)"


class _FlakyClient:
    """A client whose TransactWriteItems is throttled ``failures`` times, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[list[tx.Action]] = []

    def transact_write_items(self, TransactItems: list[tx.Action]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        from botocore.exceptions import ClientError

        self.calls.append(TransactItems)
        if len(self.calls) <= self.failures:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "TransactWriteItems")
        return {}


def test_a_throttled_transaction_is_retried_with_growing_jittered_waits() -> None:
    # Given a transaction throttled twice
    client, waits = _FlakyClient(failures=2), list[float]()
    action = tx.put("t", KEY)
    # When it runs with 3 attempts
    tx.transact_retrying(
        client, [action], attempts=3, backoff_s=0.5, sleep=waits.append, jitter=lambda lo, hi: hi
    )
    # Then the same actions went out 3 times, waiting 0.5 s then 1 s
    assert client.calls == [[action]] * 3
    assert waits == [0.5, 1.0]


def test_a_transaction_still_throttled_after_its_attempts_is_unavailable() -> None:
    from chalicelib.core.errors import UnavailableError

    client = _FlakyClient(failures=5)
    with pytest.raises(UnavailableError):
        tx.transact_retrying(client, [tx.put("t", KEY)], attempts=2, backoff_s=0.0, sleep=lambda _: None)
    assert len(client.calls) == 2


class _RefusingClient:
    """A client whose PutItem always fails its condition."""

    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.puts.append(kwargs)
        raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")


def test_a_refused_conditional_single_write_is_false_not_an_error() -> None:
    # Given a put whose condition fails
    client = _RefusingClient()
    action = tx.put("t", KEY, condition="attribute_not_exists(pk)")
    # When it runs alone as a conditional write
    applied = tx.write_if(client, action)
    # Then it reports False, after one PutItem of exactly the action's body
    assert applied is False
    assert client.puts == [action["Put"]]
