"""The local stack over real HTTP, and the event pump driving Chalice handlers like Lambda.

The pump tests run ``local.pump.Pump`` in-process against the stack's moto with a small stub
Chalice app (its own table, topic and queue), so each delivery rule is observable.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chalice import Chalice

from local.pump import Pump
from tests.support.local_stack import LocalStack

pytestmark = pytest.mark.e2e


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Poll ``condition``; return the seconds it took, fail after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


# -- the stack over HTTP -------------------------------------------------------------------


def test_health_answers_over_http(local_stack: LocalStack) -> None:
    # When anyone asks for health, without a token
    status, body, _ = local_stack.request("GET", "/v1/health")

    # Then the API answers ok
    assert status == 200
    assert body == {"status": "ok"}


def test_protected_route_without_token_is_unauthorized(local_stack: LocalStack) -> None:
    # When a protected route is called without a token
    status, body, headers = local_stack.request("GET", "/v1/me")

    # Then it is rejected with the API's error shape
    assert status == 401
    assert body is not None and body["code"] == "unauthorized"
    assert headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_protected_route_with_a_local_token_passes_auth(local_stack: LocalStack) -> None:
    # When a protected route is called with a token minted for the stack
    status, body, _ = local_stack.request("GET", "/v1/me", user="demo-alice")

    # Then it is not an auth failure
    assert status not in (401, 403), body


def test_pump_runs_the_apps_stream_consumers_on_table_writes(local_stack: LocalStack) -> None:
    # Given the running stack's pump
    ddb = local_stack.client("dynamodb")
    before = local_stack.pump_log().count("delivered handler=project_inbox")

    # When any item is written to the table
    ddb.put_item(
        TableName=local_stack.env["TABLE_NAME"],
        Item={"pk": {"S": f"e2e#{uuid.uuid4()}"}, "sk": {"S": "probe"}, "entity": {"S": "e2e_probe"}},
    )

    # Then the app's stream consumer is invoked with it, promptly and without error
    latency = wait_until(lambda: local_stack.pump_log().count("delivered handler=project_inbox") > before)
    assert latency < 2.0
    assert " raised (attempt" not in local_stack.pump_log()


# -- the pump, rule by rule ----------------------------------------------------------------


class Recorder:
    """Collects what handlers received; ``fail_next`` makes the next calls fail."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.calls = 0
        self.lock = threading.Lock()

    def add(self, event: dict[str, Any]) -> int:
        """Record one invocation; returns its 1-based number."""
        with self.lock:
            self.calls += 1
            self.events.append(event)
            return self.calls


@pytest.fixture
def names() -> dict[str, str]:
    """Unique resource names per test (the stack's moto is shared)."""
    suffix = uuid.uuid4().hex[:8]
    return {"table": f"pump-{suffix}", "topic": f"pump-topic-{suffix}", "queue": f"pump-queue-{suffix}"}


@pytest.fixture
def make_pump(local_stack: LocalStack) -> Iterator[Callable[[Any], Pump]]:
    """Start a pump for a stub app against the stack's moto; stopped after the test."""
    pumps: list[Pump] = []

    def make(app: Any) -> Pump:
        pump = Pump(app, session=local_stack.session(), region="us-east-1", poll_seconds=0.05)
        pumps.append(pump.start())
        return pump

    yield make
    for pump in pumps:
        pump.stop()


def _create_streamed_table(local_stack: LocalStack, table: str) -> str:
    ddb = local_stack.client("dynamodb")
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/placeholder"


def _put(local_stack: LocalStack, table: str, pk: str) -> None:
    local_stack.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": pk}, "n": {"N": "1"}})


def _delivered_keys(recorder: Recorder) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for e in recorder.events for r in e["Records"]]


def test_stream_records_arrive_lambda_shaped_in_order(
    local_stack: LocalStack, names: dict[str, str], make_pump: Callable[[Any], Pump]
) -> None:
    # Given a stub app consuming a table's stream, and an item written before the pump started
    stream_arn = _create_streamed_table(local_stack, names["table"])
    _put(local_stack, names["table"], "early")
    app, seen = Chalice("stub"), Recorder()

    @app.on_dynamodb_record(stream_arn=stream_arn, batch_size=10)
    def consume(event: Any) -> None:
        seen.add(event.to_dict())

    make_pump(app)

    # When more items are written
    started = time.monotonic()
    _put(local_stack, names["table"], "a")
    wait_until(lambda: "a" in _delivered_keys(seen))
    latency = time.monotonic() - started
    _put(local_stack, names["table"], "b")
    wait_until(lambda: "b" in _delivered_keys(seen))

    # Then every record (from TRIM_HORIZON) arrives once, in order, shaped like Lambda's
    assert _delivered_keys(seen) == ["early", "a", "b"]
    record = seen.events[-1]["Records"][0]
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "INSERT"
    assert record["eventSourceARN"].startswith(
        f"arn:aws:dynamodb:us-east-1:123456789012:table/{names['table']}/stream/"
    )
    assert record["awsRegion"] == "us-east-1"
    assert record["eventID"]
    ddb = record["dynamodb"]
    assert ddb["NewImage"] == {"pk": {"S": "b"}, "n": {"N": "1"}}
    assert ddb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(ddb["ApproximateCreationDateTime"], float)
    assert ddb["SequenceNumber"] and ddb["SizeBytes"] > 0
    assert latency < 2.0  # ~20-200 ms on an idle machine; slack for loaded CI


def test_reported_batch_item_failure_is_redelivered_from_that_record(
    local_stack: LocalStack, names: dict[str, str], make_pump: Callable[[Any], Pump]
) -> None:
    # Given three items in the stream and a consumer that fails the 2nd record the first time
    stream_arn = _create_streamed_table(local_stack, names["table"])
    for pk in ("r1", "r2", "r3"):
        _put(local_stack, names["table"], pk)
    app, seen = Chalice("stub"), Recorder()

    @app.on_dynamodb_record(stream_arn=stream_arn, batch_size=10)
    def consume(event: Any) -> dict[str, Any]:
        call = seen.add(event.to_dict())
        records = list(event)
        if call == 1:
            return {"batchItemFailures": [{"itemIdentifier": records[1].sequence_number}]}
        return {"batchItemFailures": []}

    # When the pump delivers
    make_pump(app)
    wait_until(lambda: seen.calls >= 2)

    # Then the retry starts at the failed record; r1 is not delivered again
    assert [[r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in seen.events[:2]] == [
        ["r1", "r2", "r3"],
        ["r2", "r3"],
    ]


def test_a_raising_stream_consumer_gets_the_same_batch_again(
    local_stack: LocalStack, names: dict[str, str], make_pump: Callable[[Any], Pump]
) -> None:
    # Given a consumer that raises on its first two invocations
    stream_arn = _create_streamed_table(local_stack, names["table"])
    _put(local_stack, names["table"], "x")
    app, seen = Chalice("stub"), Recorder()

    @app.on_dynamodb_record(stream_arn=stream_arn)
    def consume(event: Any) -> None:
        if seen.add(event.to_dict()) <= 2:
            raise RuntimeError("transient")

    # When the pump delivers, and a later item arrives
    pump = make_pump(app)
    wait_until(lambda: seen.calls >= 3)
    _put(local_stack, names["table"], "y")
    wait_until(lambda: "y" in _delivered_keys(seen))

    # Then the batch was retried until it succeeded, nothing skipped, failures counted
    assert _delivered_keys(seen) == ["x", "x", "x", "y"]
    assert pump.stats.failures["consume"] == 2


def test_sns_messages_arrive_sns_shaped_and_failures_are_redelivered(
    local_stack: LocalStack, names: dict[str, str], make_pump: Callable[[Any], Pump]
) -> None:
    # Given a topic and a subscriber that fails its first invocation
    sns = local_stack.client("sns")
    topic_arn = sns.create_topic(Name=names["topic"])["TopicArn"]
    app, seen = Chalice("stub"), Recorder()

    @app.on_sns_message(topic=names["topic"])
    def on_message(event: Any) -> None:
        if seen.add(event.to_dict()) == 1:
            raise RuntimeError("transient")

    pump = make_pump(app)

    # When a message is published
    started = time.monotonic()
    sns.publish(
        TopicArn=topic_arn,
        Message=json.dumps({"hello": "world"}),
        MessageAttributes={"type": {"DataType": "String", "StringValue": "greeting"}},
    )

    # Then the handler gets an SNS-shaped event, and again after its failure (not deleted)
    wait_until(lambda: seen.calls >= 1)
    first_latency = time.monotonic() - started
    wait_until(lambda: seen.calls >= 2, timeout=8)
    record = seen.events[-1]["Records"][0]
    assert record["EventSource"] == "aws:sns"
    assert record["Sns"]["TopicArn"] == topic_arn
    assert json.loads(record["Sns"]["Message"]) == {"hello": "world"}
    assert record["Sns"]["MessageAttributes"]["type"] == {"Type": "String", "Value": "greeting"}
    assert record["Sns"]["MessageId"] and record["Sns"]["Timestamp"]
    assert seen.events[0]["Records"][0]["Sns"]["MessageId"] == record["Sns"]["MessageId"]
    assert first_latency < 2.0
    # And once it succeeded the message is gone (no third delivery)
    time.sleep(1.5)
    assert seen.calls == 2
    assert pump.stats.failures["on_message"] == 1


def test_sqs_consumer_receives_batches(
    local_stack: LocalStack, names: dict[str, str], make_pump: Callable[[Any], Pump]
) -> None:
    # Given a queue with two messages and a consumer
    sqs = local_stack.client("sqs")
    queue_url = sqs.create_queue(QueueName=names["queue"])["QueueUrl"]
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    app, seen = Chalice("stub"), Recorder()

    @app.on_sqs_message(queue=names["queue"], batch_size=5)
    def on_queue(event: Any) -> None:
        seen.add(event.to_dict())

    # When the pump runs
    make_pump(app)

    # Then both messages are delivered as SQS records and deleted from the queue
    wait_until(lambda: sorted(r["body"] for e in seen.events for r in e["Records"]) == ["one", "two"])
    assert seen.events[0]["Records"][0]["eventSource"] == "aws:sqs"
    time.sleep(0.3)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_schedules_fire_on_their_interval(
    monkeypatch: pytest.MonkeyPatch, make_pump: Callable[[Any], Pump]
) -> None:
    # Given a scheduled handler and a short local interval
    monkeypatch.setenv("PUMP_SCHEDULE_SECONDS", "0.2")
    app, seen = Chalice("stub"), Recorder()

    @app.schedule("rate(5 minutes)")
    def tick(event: Any) -> None:
        seen.add(event.to_dict())

    # When the pump runs for a while
    make_pump(app)

    # Then the handler fires repeatedly with EventBridge-shaped events
    wait_until(lambda: seen.calls >= 3, timeout=3)
    assert seen.events[0]["detail-type"] == "Scheduled Event"
    assert seen.events[0]["source"] == "aws.events"
