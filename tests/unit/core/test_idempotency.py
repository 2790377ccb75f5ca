"""The one idempotency protocol: the record's Put for the caller's transaction, replay vs 422."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.core.ddb import CancelReason, TransactionCancelled
from chalicelib.core.errors import IdempotencyKeyReusedError
from chalicelib.core.idempotency import (
    REUSED_MESSAGE,
    ensure_same_request,
    existing_record,
    record,
    replay_or_reject,
)


def test_the_record_is_a_conditional_put_that_returns_the_stored_record() -> None:
    # Given a record key, a fingerprint and the response to replay
    key = {"pk": "USER#u1", "sk": "IDEM#order#k1"}
    # When the record's action is built
    action, item = record("t", key, "fp1", expires_s=99, response={"id": "o1"})
    # Then it is a Put only if the key is free, returning the old item, with the TTL
    assert item == {**key, "entity": "idempotency", "fingerprint": "fp1", "response": {"id": "o1"}, "ttl": 99}
    put = action["Put"]
    assert put["TableName"] == "t" and put["ConditionExpression"] == "attribute_not_exists(pk)"
    assert put["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert put["Item"]["fingerprint"] == {"S": "fp1"} and put["Item"]["ttl"] == {"N": "99"}


def test_a_guard_without_ttl_and_with_its_own_entity() -> None:
    # When a guard is built without expiry and with its own entity
    _, item = record(
        "t", {"pk": "a", "sk": "b"}, "fp", expires_s=None, entity="client_message", message_id="m"
    )
    # Then the item has no ttl and carries the entity
    assert item == {"pk": "a", "sk": "b", "entity": "client_message", "fingerprint": "fp", "message_id": "m"}


def test_the_same_request_replays_and_another_is_422_with_one_wording() -> None:
    # Given a stored record of fingerprint fp1
    # Then the same request replays the stored response
    assert replay_or_reject("fp1", "fp1", {"id": "o1"}) == {"id": "o1"}
    ensure_same_request("fp1", "fp1")
    # And another request is refused with the one wording
    decisions: list[Callable[[], object]] = [
        lambda: replay_or_reject("fp1", "fp2", {}),
        lambda: ensure_same_request("fp1", "fp2"),
    ]
    for decide in decisions:
        with pytest.raises(IdempotencyKeyReusedError) as refused:
            decide()
        assert (refused.value.status, refused.value.code, refused.value.message) == (
            422,
            "idempotency_key_reused",
            REUSED_MESSAGE,
        )


def test_the_existing_record_comes_from_the_cancelled_record_action_only() -> None:
    # Given a transaction whose record action failed and whose other action did not
    stored = {"fingerprint": "fp1"}
    cancelled = TransactionCancelled(
        [CancelReason("ConditionalCheckFailed", stored), CancelReason("None", None)]
    )
    # Then the existing record is the failed action's item only
    assert existing_record(cancelled, 0) == stored
    assert existing_record(cancelled, 1) is None
