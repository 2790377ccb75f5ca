"""Fault tier, strict local AWS: the moto server refuses what AWS refuses, with AWS's codes, and
the outbox publisher stays within those limits (size-split batches, claim checks)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.stack import EndpointSession
from local.strict_aws import add_fault, clear_faults, list_faults
from tests.support.env import functions_environment
from tests.support.moto import moto_server

pytestmark = pytest.mark.e2e

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
MEMBERS = [f"{n:02d}" + "u" * 126 for n in range(31)]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def _code(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_the_local_aws_refuses_what_aws_refuses_with_its_codes(endpoint: str) -> None:
    session = EndpointSession(endpoint)
    sns, sqs = session.client("sns", config=NO_RETRIES), session.client("sqs", config=NO_RETRIES)
    ddb = session.client("dynamodb", config=NO_RETRIES)
    topic = sns.create_topic(Name="limits")["TopicArn"]
    queue = sqs.create_queue(QueueName="limits")["QueueUrl"]
    ddb.create_table(
        TableName="limits",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    attr = {"a": {"DataType": "String", "StringValue": "b"}}
    # SNS: one message over 256 KiB; 11 entries; 4 x 70 KB (attributes count)
    assert _code(lambda: sns.publish(TopicArn=topic, Message="x" * 262_145)) == ("InvalidParameter", 400)
    eleven = [{"Id": str(i), "Message": "x"} for i in range(11)]
    assert _code(lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=eleven)) == (
        "TooManyEntriesInBatchRequest",
        400,
    )
    heavy = [{"Id": str(i), "Message": "x" * 65_530, "MessageAttributes": attr} for i in range(4)]
    assert _code(lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=heavy)) == (
        "BatchRequestTooLong",
        400,
    )
    # ...while exactly 256 KiB in total passes
    fits = [{"Id": str(i), "Message": "x" * 65_536} for i in range(4)]
    assert len(sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=fits)["Successful"]) == 4
    # SQS: a message over 256 KiB
    assert _code(lambda: sqs.send_message(QueueUrl=queue, MessageBody="x" * 262_145)) == (
        "InvalidParameterValue",
        400,
    )
    # DynamoDB: a transaction over 4 MB
    items = [
        {"Put": {"TableName": "limits", "Item": {"pk": {"S": str(i)}, "v": {"S": "x" * 390_000}}}}
        for i in range(11)
    ]
    assert _code(lambda: ddb.transact_write_items(TransactItems=items)) == ("ValidationException", 400)


def test_fault_rules_by_duration_probability_and_count(endpoint: str) -> None:
    session = EndpointSession(endpoint)
    sns = session.client("sns", config=NO_RETRIES)
    topic = sns.create_topic(Name="faults")["TopicArn"]
    try:
        # A 1 s SNS outage: Publish fails with InternalError (500), then works again
        add_fault(endpoint, "sns", "InternalError", "Publish*", duration_s=1)
        assert _code(lambda: sns.publish(TopicArn=topic, Message="x")) == ("InternalError", 500)
        time.sleep(1.1)
        sns.publish(TopicArn=topic, Message="x")
        # Throttling on DynamoDB TransactWriteItems, counted
        clear_faults(endpoint)
        ddb = session.client("dynamodb", config=NO_RETRIES)
        add_fault(endpoint, "dynamodb", "Throttling", "TransactWriteItems", count=2)
        check = {"TableName": "x", "Key": {"pk": {"S": "k"}}, "ConditionExpression": "a"}
        call = lambda: ddb.transact_write_items(TransactItems=[{"ConditionCheck": check}])  # noqa: E731
        assert _code(call) == ("ThrottlingException", 400)
        assert _code(call) == ("ThrottlingException", 400)
        assert _code(call)[0] != "ThrottlingException"  # the third reaches moto (no such table)
        (rule,) = list_faults(endpoint)
        assert rule["hits"] == 2
        # A probability of 0.3: roughly 30 % of 200 calls
        clear_faults(endpoint)
        add_fault(endpoint, "sqs", "ServiceUnavailable", "GetQueueUrl", probability=0.3)
        sqs = session.client("sqs", config=NO_RETRIES)
        failures = 0
        for _ in range(200):
            try:
                sqs.get_queue_url(QueueName="nope")
            except ClientError as err:
                failures += err.response["Error"]["Code"] == "ServiceUnavailable"
        assert 30 <= failures <= 90
    finally:
        clear_faults(endpoint)


def _event(n: int, text: str) -> Any:
    from chalicelib.core.domain_events import DomainEvent

    return DomainEvent(
        event_id=f"evt_limits_{n:03d}",
        type="message.sent",
        occurred_at="2026-01-01T00:00:00.000Z",
        actor_id="owner",
        recipient_ids=MEMBERS,
        data={"conversation_id": "c-limits", "message": {"text": text}, "preview": text[:100]},
    )


def test_the_publisher_splits_71_kb_events_by_size_and_claim_checks_a_300_kb_one(endpoint: str) -> None:
    with functions_environment(endpoint) as env:
        from chalicelib.core.event_bodies import event_from_message
        from chalicelib.notify import dal

        # Given ten ~71 KB group events, a ~300 KB one, and a small one after them
        events = [_event(n, "😀" * 16_500) for n in range(10)]
        events += [_event(10, "x" * 300_000), _event(11, "the one after")]
        publisher = dal.event_publisher()
        # When the outbox publishes them against the strict local SNS
        failed = publisher.publish(events)
        # Then nothing failed, in 4 calls (3 + 3 + 3 + the last 71 KB, the pointer and the small
        # one): four ~71 KB events would pass 256 KiB
        assert failed == set()
        assert publisher.calls == 4
        # And every event reached the topic's subscriber; the big one as a claim check it resolves
        sqs = EndpointSession(endpoint).client("sqs")
        bodies: list[str] = []
        while True:
            out = sqs.receive_message(QueueUrl=env["EVENTS_TAP_QUEUE_URL"], MaxNumberOfMessages=10)
            if not out.get("Messages"):
                break
            bodies += [m["Body"] for m in out["Messages"]]
        assert max(len(b.encode()) for b in bodies) < 262_144
        received = {e.event_id: e for e in (event_from_message(b) for b in bodies)}
        assert set(received) == {e.event_id for e in events}
        assert received["evt_limits_010"] == events[10]
        assert any("claim_check" in json.loads(b) for b in bodies)
