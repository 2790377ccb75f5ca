"""A paid order reaches buyer and seller through the notifications path: table stream →
outbox publisher (notify) → the ``-events`` topic."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from tests.conftest import ApiClient, body_of
from tests.integration.checkout.conftest import Clock, Sale, order, webhook


def _stream_records() -> list[dict[str, Any]]:
    """Everything the table's stream holds, shaped as Lambda delivers it."""
    import boto3

    from chalicelib.core import clients
    from chalicelib.core.settings import get_settings

    arn = clients.dynamodb().describe_table(TableName=get_settings().table_name)["Table"]["LatestStreamArn"]
    # botocore ≥ 1.44 routes ARN calls to an account-specific host that in-process moto ignores.
    streams = boto3.client(
        "dynamodbstreams",
        region_name="us-east-1",
        endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com",
    )
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
            ddb = dict(record["dynamodb"])
            if isinstance(ddb.get("ApproximateCreationDateTime"), datetime):
                ddb["ApproximateCreationDateTime"] = ddb["ApproximateCreationDateTime"].timestamp()
            records.append({**record, "dynamodb": ddb, "eventSourceARN": arn})
    return records


def _published_events() -> list[dict[str, Any]]:
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    out = sqs.receive_message(QueueUrl=os.environ["EVENTS_TAP_QUEUE_URL"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in out.get("Messages", [])]


def test_buyer_and_seller_are_notified_when_an_order_is_paid(
    api: ApiClient, sale: Sale, clock: Clock
) -> None:
    from app import app

    # Given a paid order
    placed = body_of(order(api, sale, "vic", 1))
    assert body_of(webhook(api, clock, placed))["result"] == "paid"
    # When the outbox publisher Lambda receives the table's stream
    app.handler_map["notify_publish_outbox"]({"Records": _stream_records()}, None)
    # Then one order.paid event addressed to buyer and seller is on the events topic
    paid = [e for e in _published_events() if e["type"] == "order.paid"]
    assert len(paid) == 1
    assert paid[0]["recipient_ids"] == ["vic", "hana"]
    assert paid[0]["data"]["order_id"] == placed["order_id"]
    assert paid[0]["data"]["amount_cents"] == 999
