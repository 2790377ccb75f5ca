"""The local server's cheap TransactWriteItems (``local.motofix``) does exactly what moto does.

Every scenario runs twice on in-process moto, once as moto ships and once patched, and the
table, its stream and the answer must be the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.motofix import fast_moto_transactions
from tests.support.streams import streams_client

TABLE = "tx"


def _key(pk: str, sk: str = "A") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _seed(ddb: Any) -> str:
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for i in range(5):
        ddb.put_item(TableName=TABLE, Item={**_key(f"item-{i}"), "n": {"N": str(i)}})
    return str(ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"])


def _state(ddb: Any, streams: Any, stream_arn: str) -> tuple[list[Any], list[Any]]:
    items = sorted(ddb.scan(TableName=TABLE)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    stream = [(r["eventName"], r["dynamodb"].get("Keys"), r["dynamodb"].get("NewImage")) for r in records]
    return items, stream


def _mixed(condition_holds: bool) -> list[dict[str, Any]]:
    """A new item, an update, a delete and a condition check that holds or not."""
    return [
        {"Put": {"TableName": TABLE, "Item": {**_key("new"), "n": {"N": "9"}}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": _key("item-1"),
                "UpdateExpression": "SET n = n + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Delete": {"TableName": TABLE, "Key": _key("item-2")}},
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": _key("item-3"),
                "ConditionExpression": "n = :n",
                "ExpressionAttributeValues": {":n": {"N": "3" if condition_holds else "4"}},
            }
        },
    ]


SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "commits": _mixed(condition_holds=True),
    "cancelled by the last condition": _mixed(condition_holds=False),
    "cancelled by the first condition": [
        {
            "Put": {
                "TableName": TABLE,
                "Item": _key("item-0"),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        *_mixed(condition_holds=True)[:3],
    ],
    "two actions on one item": [
        {"Put": {"TableName": TABLE, "Item": _key("new")}},
        {"Delete": {"TableName": TABLE, "Key": _key("item-4")}},
        {"Delete": {"TableName": TABLE, "Key": _key("new")}},
    ],
    "no such table": [
        {"Put": {"TableName": "missing", "Item": _key("x")}},
    ],
}


def _run(patched: bool, actions: list[dict[str, Any]]) -> tuple[str, Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        streams = streams_client()
        stream_arn = _seed(ddb)
        run: Callable[[], Any] = lambda: ddb.transact_write_items(TransactItems=actions)  # noqa: E731
        try:
            if patched:
                with fast_moto_transactions():
                    run()
            else:
                run()
            answer = "ok"
        except ClientError as err:
            reasons = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
            answer = f"{err.response['Error']['Code']} {reasons}"
        return answer, _state(ddb, streams, stream_arn)


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    yield


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_patched_transaction_leaves_what_moto_leaves(scenario: str) -> None:
    # Given the same five-item table with a stream, as moto ships it and patched
    actions = SCENARIOS[scenario]
    # When the same transaction runs on each
    expected_answer, expected_state = _run(patched=False, actions=actions)
    answer, state = _run(patched=True, actions=actions)
    # Then the caller gets the same answer, and the items and the stream records are the same
    assert answer == expected_answer
    assert state == expected_state


def test_a_cancelled_transaction_leaves_no_trace() -> None:
    # Given the five-item table (not compared with moto: this states the rule itself)
    # When a transaction is cancelled by its last condition
    answer, (items, records) = _run(patched=True, actions=SCENARIOS["cancelled by the last condition"])
    # Then it is refused, and the table and its stream hold only the seeding
    assert answer.startswith("TransactionCanceledException")
    assert [(i["pk"]["S"], i["n"]["N"]) for i in items] == [(f"item-{i}", str(i)) for i in range(5)]
    assert [name for name, _, _ in records] == ["INSERT"] * 5
