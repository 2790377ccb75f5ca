"""Fault tier, event pump: the local pump applies the deployed retry rules (infra/delivery.json)
against a real (serialised, strict) moto server: a record that raises once is redelivered and
nothing is doubled; a poison record is parked after 1 + MaximumRetryAttempts attempts and the
records after it flow on; an SNS delivery that keeps failing is parked after its async retries."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chalice import Chalice

from local import delivery
from local.pump import Pump
from local.stack import EndpointSession
from tests.support.moto import moto_server

pytestmark = pytest.mark.e2e

BUDGET_S = 20.0


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same number of attempts as deployed; shorter waits between them (Lambda retries a
    # stream batch within seconds; the local default backoff is for a developer's log).
    monkeypatch.setenv("PUMP_RETRY_BASE_SECONDS", "0.05")
    monkeypatch.setenv("PUMP_RETRY_MAX_SECONDS", "1")


def _table(session: EndpointSession, name: str) -> str:
    ddb = session.client("dynamodb")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}/stream/2026-01-01T00:00:00.000"


def _wait(condition: Callable[[], bool], timeout: float = BUDGET_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _dlq(session: EndpointSession, function: str) -> list[dict[str, Any]]:
    sqs = session.client("sqs")
    url = sqs.get_queue_url(QueueName=delivery.dlq_name(function))["QueueUrl"]
    out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(m["Body"]) for m in out.get("Messages", [])]


def test_a_record_that_fails_once_is_redelivered_and_nothing_is_doubled(moto_url: str) -> None:
    # Given a stream consumer that applies an increment per record (not idempotent on purpose)
    # and fails once on the record "crash", reporting it (ReportBatchItemFailures)
    session = EndpointSession(moto_url)
    run = uuid.uuid4().hex[:6]
    table = f"crash-{run}"
    stream_arn = _table(session, table)
    ddb = session.client("dynamodb")
    app = Chalice(app_name=f"crash-{run}")
    crashed: list[str] = []

    @app.on_dynamodb_record(stream_arn=stream_arn, batch_size=10, starting_position="TRIM_HORIZON")
    def crash_consumer(event: Any) -> dict[str, list[dict[str, str]]]:
        for record in event:
            pk = record.keys["pk"]["S"]
            if pk.startswith("effect#"):
                continue
            if pk == "crash" and not crashed:
                crashed.append(pk)
                return {"batchItemFailures": [{"itemIdentifier": record.sequence_number}]}
            ddb.update_item(
                TableName=table,
                Key={"pk": {"S": f"effect#{pk}"}},
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        return {"batchItemFailures": []}

    keys = [f"r{i}" for i in range(4)] + ["crash"] + [f"r{i}" for i in range(4, 8)]
    for key in keys:
        ddb.put_item(TableName=table, Item={"pk": {"S": key}})
    pump = Pump(app, session=session, poll_seconds=0.05).start()
    try:
        # When the pump delivers the stream
        def effects() -> dict[str, int]:
            items = ddb.scan(TableName=table)["Items"]
            return {i["pk"]["S"][7:]: int(i["n"]["N"]) for i in items if i["pk"]["S"].startswith("effect#")}

        assert _wait(lambda: len(effects()) == len(keys)), effects()
    finally:
        pump.stop()
    # Then the crashed record was redelivered once, and every record's effect applied exactly once
    assert crashed == ["crash"]
    assert effects() == dict.fromkeys(keys, 1)
    assert pump.stats.parked == {}


def test_a_poison_record_is_parked_after_the_deployed_attempts_and_the_rest_flow_on(moto_url: str) -> None:
    # Given a consumer that always raises on "poison" (idempotent for the others: a put per record)
    session = EndpointSession(moto_url)
    run = uuid.uuid4().hex[:6]
    table = f"poison-{run}"
    stream_arn = _table(session, table)
    ddb = session.client("dynamodb")
    app = Chalice(app_name=f"poison-{run}")
    poison_attempts: list[int] = []

    @app.on_dynamodb_record(stream_arn=stream_arn, batch_size=10, starting_position="TRIM_HORIZON")
    def poison_consumer(event: Any) -> None:
        records = list(event)
        for record in records:
            pk = record.keys["pk"]["S"]
            if pk.startswith("done#"):
                continue
            if pk == "poison":
                if len(records) == 1:
                    poison_attempts.append(1)
                raise ValueError("cannot project this record")
            ddb.put_item(TableName=table, Item={"pk": {"S": f"done#{pk}"}})

    keys = ["a1", "a2", "poison", "b1", "b2", "b3"]
    for key in keys:
        ddb.put_item(TableName=table, Item={"pk": {"S": key}})
    pump = Pump(app, session=session, poll_seconds=0.05).start()
    try:
        # When the pump delivers the stream
        def done() -> set[str]:
            items = ddb.scan(TableName=table)["Items"]
            return {i["pk"]["S"][5:] for i in items if i["pk"]["S"].startswith("done#")}

        delivered = _wait(lambda: done() == set(keys) - {"poison"} and bool(_dlq(session, "poison_consumer")))
    finally:
        pump.stop()
    # Then the records after the poison were delivered within the retry budget
    assert delivered, done()
    # And the poison record is in the function's dead-letter queue after 1 + MaximumRetryAttempts
    retries = int(delivery.rules("dynamodb_stream", "poison_consumer")["MaximumRetryAttempts"])
    (parked,) = _dlq(session, "poison_consumer")
    assert parked["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert parked["requestContext"]["approximateInvokeCount"] == 1 + retries
    assert len(poison_attempts) == 1 + retries
    assert parked["DDBStreamBatchInfo"]["batchSize"] == 1
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in parked["localRecords"]] == ["poison"]
    assert parked["responsePayload"]["errorType"] == "ValueError"


def test_an_sns_delivery_that_keeps_failing_is_parked_after_the_async_retries(moto_url: str) -> None:
    # Given an SNS-invoked function that always raises on one message
    session = EndpointSession(moto_url)
    run = uuid.uuid4().hex[:6]
    topic = f"topic-{run}"
    session.client("sns").create_topic(Name=topic)
    app = Chalice(app_name=f"sns-{run}")
    seen: list[str] = []

    @app.on_sns_message(topic=topic)
    def sns_poison_consumer(event: Any) -> None:
        seen.append(event.message)
        if event.message == "poison":
            raise RuntimeError("cannot handle it")

    pump = Pump(app, session=session, poll_seconds=0.05).start()
    try:
        sns = session.client("sns")
        arn = pump.topic_arn(topic)
        for message in ("ok-1", "poison", "ok-2"):
            sns.publish(TopicArn=arn, Message=message)
        # When the pump delivers them
        parked = _wait(lambda: bool(_dlq(session, "sns_poison_consumer")))
    finally:
        pump.stop()
    # Then the good messages went through once, the bad one 1 + MaximumRetryAttempts times, then parked
    retries = int(delivery.rules("sns_async", "sns_poison_consumer")["MaximumRetryAttempts"])
    assert parked
    assert seen.count("ok-1") == 1 and seen.count("ok-2") == 1
    assert seen.count("poison") == 1 + retries
    (record,) = _dlq(session, "sns_poison_consumer")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"]["Records"][0]["Sns"]["Message"] == "poison"


def test_a_record_always_reported_failed_is_parked_alone_and_the_records_after_it_flow_on(
    moto_url: str,
) -> None:
    # Given a consumer that reports "poison" failed every time (as the outbox publisher does)
    session = EndpointSession(moto_url)
    run = uuid.uuid4().hex[:6]
    table = f"reported-{run}"
    stream_arn = _table(session, table)
    ddb = session.client("dynamodb")
    app = Chalice(app_name=f"reported-{run}")
    delivered: list[str] = []

    @app.on_dynamodb_record(stream_arn=stream_arn, batch_size=10, starting_position="TRIM_HORIZON")
    def reported_consumer(event: Any) -> dict[str, list[dict[str, str]]]:
        for record in event:
            pk = record.keys["pk"]["S"]
            if pk == "poison":
                return {"batchItemFailures": [{"itemIdentifier": record.sequence_number}]}
            delivered.append(pk)
        return {"batchItemFailures": []}

    keys = ["a1", "poison", "b1", "b2"]
    for key in keys:
        ddb.put_item(TableName=table, Item={"pk": {"S": key}})
    pump = Pump(app, session=session, poll_seconds=0.05).start()
    try:
        # When the pump delivers the stream
        flowed = _wait(lambda: delivered[-2:] == ["b1", "b2"] and bool(_dlq(session, "reported_consumer")))
    finally:
        pump.stop()
    # Then only the poison record is parked, after 1 + MaximumRetryAttempts, and each other once
    assert flowed, delivered
    assert delivered == ["a1", "b1", "b2"]
    retries = int(delivery.rules("dynamodb_stream", "reported_consumer")["MaximumRetryAttempts"])
    (parked,) = _dlq(session, "reported_consumer")
    assert parked["requestContext"]["approximateInvokeCount"] == 1 + retries
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in parked["localRecords"]] == ["poison"]
