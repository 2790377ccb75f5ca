"""The local event pump: does for every event handler of the Chalice app what Lambda's event
source mappings, SNS subscriptions and EventBridge schedules do in AWS.

The retry and failure rules are the deployed ones, read from ``infra/delivery.json``
(``local.delivery``; per-function overrides apply):

- ``on_dynamodb_record``: reads the table's real stream (every shard, TRIM_HORIZON the first
  time), invokes the handler with Lambda-shaped batches of ``batch_size`` records, honours
  ``{"batchItemFailures": [{"itemIdentifier": <sequence number>}]}`` (records before the
  reported one are checkpointed), splits a failing batch in two (``BisectBatchOnFunctionError``),
  retries a failing single record ``MaximumRetryAttempts`` times with backoff, then sends it to
  the function's dead-letter queue (``<function>-dlq``, on-failure destination shape, with the
  records themselves so ``make redrive`` can replay them) and goes on; records older than
  ``MaximumRecordAgeInSeconds`` go there too.
- ``on_sns_message``: a queue per handler subscribed to the topic; each message is delivered
  as an SNS-shaped event, deleted after the handler returned, retried ``MaximumRetryAttempts``
  times (async invocation), then sent to the dead-letter queue (``requestPayload`` shape).
- ``on_sqs_message``: polls the queue; partial batch failures are honoured; a message received
  ``maxReceiveCount`` times moves to the dead-letter queue (a redrive policy).
- ``schedule``: fires at the rule's rate (a cron expression fires every minute);
  ``PUMP_SCHEDULE_SECONDS`` overrides the interval of every schedule.

Handlers are invoked exactly as Lambda invokes them: ``app.handler_map[name](event, context)``
(Chalice's ``EventSourceHandler`` wraps the dict into its event class) with a fake Lambda
context. The SQS polls are short (``WaitTimeSeconds=0``): a long poll would hold the
serialised moto server's lock for its whole wait.

``python -m local.pump [--env KEY=VALUE ...]`` runs it with the ``local`` stage's environment,
like ``chalice local`` (``make run`` starts it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local import delivery

log = logging.getLogger("local.pump")

ACCOUNT_ID = "123456789012"
DEFAULT_POLL_SECONDS = 0.15
MAX_BACKOFF_SECONDS = 10.0
SHARD_REFRESH_SECONDS = 5.0
QUEUE_PREFIX = "socialvideo-pump-"

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """The parts of Lambda's context object handlers (and Powertools) read."""

    def __init__(self, function_name: str, timeout_s: int = 30, memory_mb: int = 512) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (simulated) timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or 0)


def _iso(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def stream_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A ``dynamodbstreams`` GetRecords record → the record Lambda hands a stream consumer."""
    ddb = dict(record.get("dynamodb", {}))
    shaped: dict[str, Any] = {
        "Keys": ddb.get("Keys", {}),
        "SequenceNumber": ddb["SequenceNumber"],
        "SizeBytes": int(ddb.get("SizeBytes", 0)),
        "StreamViewType": ddb.get("StreamViewType", "NEW_AND_OLD_IMAGES"),
        "ApproximateCreationDateTime": _epoch(ddb.get("ApproximateCreationDateTime", time.time())),
    }
    for image in ("NewImage", "OldImage"):
        if image in ddb:
            shaped[image] = ddb[image]
    return {
        "eventID": record.get("eventID", ddb["SequenceNumber"]),
        "eventName": record.get("eventName", ""),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "eventSourceARN": stream_arn,
        "dynamodb": shaped,
    }


def sns_event(envelope: Mapping[str, Any], subscription_arn: str) -> dict[str, Any]:
    """An SNS→SQS envelope (non-raw delivery) → the event Lambda gets from an SNS subscription."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": envelope.get("Type", "Notification"),
                    "MessageId": envelope.get("MessageId", str(uuid.uuid4())),
                    "TopicArn": envelope.get("TopicArn", ""),
                    "Subject": envelope.get("Subject"),
                    "Message": envelope.get("Message", ""),
                    "Timestamp": envelope.get("Timestamp", _iso()),
                    "SignatureVersion": envelope.get("SignatureVersion", "1"),
                    "Signature": envelope.get("Signature", "local"),
                    "SigningCertUrl": envelope.get("SigningCertURL", ""),
                    "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
                    "MessageAttributes": envelope.get("MessageAttributes", {}),
                },
            }
        ]
    }


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A ReceiveMessage message → the record Lambda hands an SQS consumer."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def scheduled_event(rule_name: str, region: str) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }


_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_interval(expression: Any) -> float:
    """Seconds between firings: ``rate(N unit)`` exactly, ``cron(...)`` every minute.

    ``PUMP_SCHEDULE_SECONDS`` overrides every schedule (tests fire them quickly).
    """
    override = os.environ.get("PUMP_SCHEDULE_SECONDS")
    if override:
        return float(override)
    text = expression if isinstance(expression, str) else expression.to_string()
    match = _RATE.match(text.strip())
    if match:
        return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]
    if text.strip().startswith("cron("):
        return 60.0
    raise ValueError(f"unsupported schedule expression {text!r}")


def failed_identifiers(result: Any) -> list[str]:
    """Item identifiers of a ``ReportBatchItemFailures`` response (empty when all succeeded)."""
    if not isinstance(result, Mapping):
        return []
    failures = result.get("batchItemFailures") or []
    return [str(f.get("itemIdentifier")) for f in failures if isinstance(f, Mapping)]


def table_name_from_stream_arn(stream_arn: str) -> str:
    """``arn:aws:dynamodb:r:a:table/NAME/stream/...`` → ``NAME``."""
    resource = stream_arn.split(":", 5)[-1]
    parts = resource.split("/")
    if len(parts) >= 2 and parts[0] == "table":
        return parts[1]
    raise ValueError(f"not a table stream ARN: {stream_arn}")


@dataclass
class Stats:
    """What the pump did, per handler (read by tests and logged on exit)."""

    invocations: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    parked: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def park(self, name: str) -> None:
        """Count one delivery of ``name`` sent to its dead-letter queue."""
        with self.lock:
            self.parked[name] = self.parked.get(name, 0) + 1

    def count(self, name: str, records: int, failed: bool) -> None:
        """Count one invocation of ``name`` with ``records`` records."""
        with self.lock:
            self.invocations[name] = self.invocations.get(name, 0) + 1
            self.records[name] = self.records.get(name, 0) + records
            if failed:
                self.failures[name] = self.failures.get(name, 0) + 1


class Source:
    """One event source polled by its own thread."""

    kind = ""

    def __init__(self, pump: Pump, name: str) -> None:
        self.pump = pump
        self.name = name
        self.attempt = 0
        self.rules: dict[str, Any] = delivery.rules(self.kind, name) if self.kind else {}
        self.last_error: BaseException | None = None
        self.parked = 0

    def setup(self) -> None:
        """Create what the source needs (queues, subscriptions, iterators)."""

    def poll_once(self) -> bool:
        """Deliver at most one batch; True when there was work (poll again at once)."""
        raise NotImplementedError

    def invoke(self, event: dict[str, Any], records: int) -> Any:
        """Invoke the handler like Lambda; count and log the outcome, re-raise failures."""
        handler = self.pump.handlers[self.name]
        context = LambdaContext(self.name)
        try:
            result = handler(event, context)
        except Exception as err:
            self.last_error = err
            self.pump.stats.count(self.name, records, failed=True)
            log.exception(
                "handler %s raised (attempt %d); the batch will be retried", self.name, self.attempt + 1
            )
            raise
        failed = failed_identifiers(result)
        self.pump.stats.count(self.name, records, failed=bool(failed))
        log.info("delivered handler=%s records=%d failed=%d", self.name, records, len(failed))
        return result

    def backoff(self) -> float:
        """Exponential backoff for the next retry of a failed batch (``PUMP_RETRY_BASE_SECONDS``,
        default 0.2, doubling up to ``PUMP_RETRY_MAX_SECONDS``, default 10)."""
        self.attempt += 1
        base = float(os.environ.get("PUMP_RETRY_BASE_SECONDS", "0.2"))
        cap = float(os.environ.get("PUMP_RETRY_MAX_SECONDS", str(MAX_BACKOFF_SECONDS)))
        return min(cap, base * 2 ** (self.attempt - 1))

    def park(self, body: dict[str, Any] | str, attributes: dict[str, Any] | None = None) -> None:
        """Send a failed delivery to this function's dead-letter queue."""
        sqs = self.pump.client("sqs")
        text = body if isinstance(body, str) else json.dumps(body, default=str, separators=(",", ":"))
        sqs.send_message(
            QueueUrl=self.pump.dlq_url(self.name), MessageBody=text, MessageAttributes=attributes or {}
        )
        self.parked += 1
        self.pump.stats.park(self.name)
        log.error("handler %s: delivery parked in %s", self.name, delivery.dlq_name(self.name))

    def failure_context(self, condition: str, attempts: int) -> dict[str, Any]:
        """The ``requestContext``/``responseContext`` of an on-failure destination record."""
        error = self.last_error
        return {
            "version": "1.0",
            "timestamp": _iso(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{self.pump.region}:{ACCOUNT_ID}:function:{self.name}",
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {
                "errorType": type(error).__name__ if error else "PartialBatchFailure",
                "errorMessage": str(error)[:1000] if error else "the handler reported the record failed",
            },
        }


class DynamoDBStreamSource(Source):
    """A stream consumer: every shard of the table's latest stream, in order, per shard."""

    kind = "dynamodb_stream"

    def __init__(self, pump: Pump, name: str, table_name: str, batch_size: int) -> None:
        super().__init__(pump, name)
        self.table_name = table_name
        self.batch_size = max(1, min(batch_size, 1000))
        self.max_retries = int(self.rules.get("MaximumRetryAttempts", -1))  # -1: until expiry
        self.bisect = bool(self.rules.get("BisectBatchOnFunctionError", False))
        self.max_age_s = int(self.rules.get("MaximumRecordAgeInSeconds", -1))
        self.reports_failures = "ReportBatchItemFailures" in self.rules.get("FunctionResponseTypes", [])
        self.stream_arn = ""
        self.iterators: dict[str, str | None] = {}  # shard id → next iterator (None: closed)
        self.pending: dict[str, list[dict[str, Any]]] = {}  # shard id → fetched, not yet acked
        self.limit: dict[str, int] = {}  # shard id → current batch size (halved by bisect)
        self.attempts: dict[str, int] = {}  # shard id → failed attempts of the head batch
        self.retry_at = 0.0
        self.refreshed_at = 0.0

    def setup(self) -> None:
        """Find the table's stream and start every shard at TRIM_HORIZON."""
        ddb = self.pump.client("dynamodb")
        self.stream_arn = ddb.describe_table(TableName=self.table_name)["Table"]["LatestStreamArn"]
        self.refresh_shards()

    def refresh_shards(self) -> None:
        """Pick up shards created since the last look."""
        streams = self.pump.client("dynamodbstreams")
        description = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self.iterators:
                self.iterators[shard_id] = streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                self.pending[shard_id] = []
        self.refreshed_at = time.monotonic()

    def poll_once(self) -> bool:
        """Fetch and deliver one batch per shard."""
        if time.monotonic() < self.retry_at:
            return False
        if time.monotonic() - self.refreshed_at > SHARD_REFRESH_SECONDS:
            self.refresh_shards()
        busy = False
        for shard_id in list(self.iterators):
            busy |= self._poll_shard(shard_id)
        return busy

    def _park_records(
        self, shard_id: str, batch: list[dict[str, Any]], condition: str, attempts: int
    ) -> None:
        """The on-failure destination record of a stream batch (``DDBStreamBatchInfo``), plus the
        records themselves (a local extension ``make redrive`` replays; AWS sends only the range)."""
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        body = self.failure_context(condition, attempts)
        body["DDBStreamBatchInfo"] = {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": first.get("ApproximateCreationDateTime"),
            "approximateArrivalOfLastRecord": last.get("ApproximateCreationDateTime"),
            "batchSize": len(batch),
            "streamArn": self.stream_arn,
        }
        body["localRecords"] = batch
        if len(json.dumps(body, default=str)) > 250_000:
            body.pop("localRecords")  # too big for SQS: the range still says what was skipped
        self.park(body)

    def _expire_old(self, shard_id: str) -> None:
        pending = self.pending[shard_id]
        if self.max_age_s < 0 or not pending:
            return
        cutoff = time.time() - self.max_age_s
        old = 0
        while (
            old < len(pending)
            and _epoch(pending[old]["dynamodb"].get("ApproximateCreationDateTime")) < cutoff
        ):
            old += 1
        if old:
            self._park_records(shard_id, pending[:old], "RecordAgeExceeded", 0)
            del pending[:old]

    def _poll_shard(self, shard_id: str) -> bool:
        pending = self.pending[shard_id]
        iterator = self.iterators[shard_id]
        if len(pending) < self.batch_size and iterator is not None:
            streams = self.pump.client("dynamodbstreams")
            page = streams.get_records(ShardIterator=iterator, Limit=self.batch_size - len(pending))
            pending.extend(
                stream_record(r, self.stream_arn, self.pump.region) for r in page.get("Records", [])
            )
            self.iterators[shard_id] = page.get("NextShardIterator")
        self._expire_old(shard_id)
        if not pending:
            return False
        batch = pending[: self.limit.get(shard_id, self.batch_size)]
        try:
            result = self.invoke({"Records": batch}, len(batch))
        except Exception:
            self._failed(shard_id, batch)
            return False
        # Lambda reads batchItemFailures only when the mapping lists ReportBatchItemFailures.
        failed = failed_identifiers(result) if self.reports_failures else []
        if not failed:
            del pending[: len(batch)]
            self.attempt = 0
            self.attempts[shard_id] = 0
            self.limit.pop(shard_id, None)
            return True
        # Lambda checkpoints the records before the first reported failure and retries from it.
        self.last_error = None
        sequences = [r["dynamodb"]["SequenceNumber"] for r in batch]
        first = min((sequences.index(f) for f in failed if f in sequences), default=0)
        log.warning("handler %s reported a failure at %s; re-delivering from it", self.name, sequences[first])
        if first:
            del pending[:first]
            self.attempts[shard_id] = 0
        self._failed(shard_id, batch[first:], reported=True)
        return False

    def _failed(self, shard_id: str, batch: list[dict[str, Any]], reported: bool = False) -> None:
        """Bisect, or count an attempt and park once the retries are used up.

        A reported failure is already "bisected at the returned sequence number" (Lambda): the
        retry is the rest of the batch from that record, and when its retries are used up only
        that record is parked (the ones after it were never reported failed). A raised error
        halves the batch (``BisectBatchOnFunctionError``) until the bad record is alone."""
        self.retry_at = time.monotonic() + self.backoff()
        if reported:
            self.limit.pop(shard_id, None)
            batch = batch[:1]
        elif self.bisect and len(batch) > 1:
            # Bisecting does not use up retries (Lambda's BisectBatchOnFunctionError).
            self.limit[shard_id] = max(1, len(batch) // 2)
            return
        attempts = self.attempts.get(shard_id, 0) + 1
        self.attempts[shard_id] = attempts
        if 0 <= self.max_retries < attempts:
            self._park_records(shard_id, batch, "RetryAttemptsExhausted", attempts)
            del self.pending[shard_id][: len(batch)]
            self.attempts[shard_id] = 0
            self.limit.pop(shard_id, None)
            self.attempt = 0
            self.retry_at = 0.0


class QueueSource(Source):
    """Polls an SQS queue; subclasses shape the event."""

    def __init__(self, pump: Pump, name: str, batch_size: int = 1) -> None:
        super().__init__(pump, name)
        self.batch_size = max(1, min(batch_size, 10))
        self.queue_url = ""
        self.queue_arn = ""

    def build_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The Lambda event for ``messages``."""
        raise NotImplementedError

    def identifier(self, message: Mapping[str, Any]) -> str:
        """What a ``batchItemFailures`` entry names for ``message``."""
        return str(message["MessageId"])

    def exhausted(self, message: Mapping[str, Any], receives: int) -> bool:
        """True when this failed delivery was the last one the rules allow."""
        return False

    def park_message(self, message: Mapping[str, Any], receives: int) -> None:
        """Move a message that used up its deliveries to the dead-letter queue."""

    def poll_once(self) -> bool:
        """Receive up to a batch, invoke, delete what succeeded, back off the rest."""
        sqs = self.pump.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        try:
            result = self.invoke(self.build_event(messages), len(messages))
            failed = set(failed_identifiers(result))
        except Exception:
            failed = {self.identifier(m) for m in messages}
        for message in [m for m in messages if self.identifier(m) in failed]:
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if self.exhausted(message, receives):
                self.park_message(message, receives)
                failed.discard(self.identifier(message))  # parked: delete it from the source
        done = [m for m in messages if self.identifier(m) not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        for message in messages:
            if self.identifier(message) in failed:
                # Not deleted: visible again after a backoff that grows with each receive.
                receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                cap = float(os.environ.get("PUMP_RETRY_MAX_SECONDS", str(MAX_BACKOFF_SECONDS)))
                delay = max(1, int(min(cap, 2 ** (receives - 1))))
                sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=delay
                )
        if not failed:
            self.attempt = 0
        return True


class SNSSource(QueueSource):
    """An SNS subscription: a private queue subscribed to the topic, one message per event."""

    kind = "sns_async"

    def __init__(self, pump: Pump, name: str, topic: str) -> None:
        super().__init__(pump, name, batch_size=1)
        self.topic = topic
        self.subscription_arn = ""

    def setup(self) -> None:
        """Resolve the topic, create this handler's queue and subscribe it (idempotent)."""
        from local.infra import subscribe_queue

        sns, sqs = self.pump.client("sns"), self.pump.client("sqs")
        topic_arn = self.pump.topic_arn(self.topic)
        queue_name = (QUEUE_PREFIX + re.sub(r"[^A-Za-z0-9_-]", "-", self.name))[:80]
        self.queue_url = sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "30"})[
            "QueueUrl"
        ]
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        subscribe_queue(sns, sqs, topic_arn, self.queue_url, raw=False)
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn).get("Subscriptions", [])
        self.subscription_arn = next(
            (s["SubscriptionArn"] for s in subscriptions if s.get("Endpoint") == self.queue_arn), ""
        )

    def build_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """SNS delivers one message per invocation."""
        (message,) = messages
        return sns_event(json.loads(message["Body"]), self.subscription_arn)

    def exhausted(self, message: Mapping[str, Any], receives: int) -> bool:
        """An async invocation is tried 1 + ``MaximumRetryAttempts`` times, within
        ``MaximumEventAgeInSeconds``."""
        max_age = int(self.rules.get("MaximumEventAgeInSeconds", 21600))
        sent_ms = int(message.get("Attributes", {}).get("SentTimestamp", "0") or 0)
        too_old = bool(sent_ms) and time.time() - sent_ms / 1000 > max_age
        return too_old or receives > int(self.rules.get("MaximumRetryAttempts", 2))

    def park_message(self, message: Mapping[str, Any], receives: int) -> None:
        """Lambda's async on-failure record: the event it could not process as ``requestPayload``."""
        body = self.failure_context("RetriesExhausted", receives)
        body["requestPayload"] = self.build_event([dict(message)])
        if len(json.dumps(body, default=str).encode()) > 250_000:
            # SQS takes 256 KiB: keep the envelope (ids, attributes), say what was cut.
            sns = body["requestPayload"]["Records"][0]["Sns"]
            sns["Message"] = f"[truncated: {len(sns['Message'].encode())} bytes; too big for the DLQ]"
            body["truncated"] = True
        self.park(body)


class SQSSource(QueueSource):
    """An ``on_sqs_message`` handler."""

    kind = "sqs"

    def __init__(
        self, pump: Pump, name: str, queue: str | None, queue_arn: str | None, batch_size: int
    ) -> None:
        super().__init__(pump, name, batch_size)
        self.queue = queue or (queue_arn or "").rsplit(":", 1)[-1]

    def setup(self) -> None:
        """Find the queue (it must exist: the infra template declares it)."""
        sqs = self.pump.client("sqs")
        self.queue_url = sqs.get_queue_url(QueueName=self.queue)["QueueUrl"]
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def build_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """Lambda's SQS batch."""
        return {"Records": [sqs_record(m, self.queue_arn, self.pump.region) for m in messages]}

    def exhausted(self, message: Mapping[str, Any], receives: int) -> bool:
        """The queue's redrive policy: ``maxReceiveCount`` receives."""
        return receives >= int(self.rules.get("maxReceiveCount", 5))

    def park_message(self, message: Mapping[str, Any], receives: int) -> None:
        """A redrive policy moves the message itself (body and attributes)."""
        attributes = {
            k: {kk: vv for kk, vv in v.items() if kk in ("DataType", "StringValue", "BinaryValue")}
            for k, v in message.get("MessageAttributes", {}).items()
        }
        attributes["source_queue"] = {"DataType": "String", "StringValue": self.queue_url}
        self.park(str(message.get("Body", "")), attributes)


class ScheduleSource(Source):
    """A scheduled rule: fires every interval (the first time one interval after start)."""

    def __init__(self, pump: Pump, name: str, expression: Any) -> None:
        super().__init__(pump, name)
        self.interval = schedule_interval(expression)
        self.next_at = time.monotonic() + self.interval

    def poll_once(self) -> bool:
        """Fire when due; a failed invocation is retried with backoff (EventBridge retries too)."""
        if time.monotonic() < self.next_at:
            return False
        try:
            self.invoke(scheduled_event(self.name, self.pump.region), 1)
        except Exception:
            self.next_at = time.monotonic() + self.backoff()
            return False
        self.attempt = 0
        self.next_at = time.monotonic() + self.interval
        return False


class Pump:
    """Drives every event handler of a Chalice app against an AWS endpoint."""

    def __init__(
        self,
        app: Any,
        session: Any = None,
        region: str | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        import boto3

        self.app = app
        self.region = region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self.session = session or boto3.session.Session(region_name=self.region)
        self.poll_seconds = (
            poll_seconds
            if poll_seconds is not None
            else float(os.environ.get("PUMP_POLL_SECONDS", DEFAULT_POLL_SECONDS))
        )
        self.handlers: dict[str, Handler] = dict(app.handler_map)
        self.stats = Stats()
        self.sources: list[Source] = self._sources()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: dict[tuple[int, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._topics: dict[str, str] = {}
        self._dlqs: dict[str, str] = {}

    def dlq_url(self, function: str) -> str:
        """The URL of ``function``'s local dead-letter queue (created on first use)."""
        if function not in self._dlqs:
            sqs = self.client("sqs")
            self._dlqs[function] = sqs.create_queue(
                QueueName=delivery.dlq_name(function), Attributes=delivery.dlq_attributes()
            )["QueueUrl"]
        return self._dlqs[function]

    def client(self, service: str) -> Any:
        """A boto3 client per thread and service (clients are created once, then reused)."""
        key = (threading.get_ident(), service)
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = self.session.client(service)
            return self._clients[key]

    def topic_arn(self, topic: str) -> str:
        """A topic name (what Chalice subscriptions use) or ARN → ARN."""
        if topic.startswith("arn:"):
            return topic
        if topic not in self._topics:
            sns = self.client("sns")
            arns = [
                t["TopicArn"]
                for page in sns.get_paginator("list_topics").paginate()
                for t in page.get("Topics", [])
            ]
            match = [a for a in arns if a.rsplit(":", 1)[-1] == topic]
            if not match:
                log.warning("topic %s is not deployed (is it in infra/template.yaml?); creating it", topic)
                match = [sns.create_topic(Name=topic)["TopicArn"]]
            self._topics[topic] = match[0]
        return self._topics[topic]

    def _sources(self) -> list[Source]:
        from chalice.app import (
            DynamoDBEventConfig,
            ScheduledEventConfig,
            SNSEventConfig,
            SQSEventConfig,
        )

        sources: list[Source] = []
        for config in self.app.event_sources:
            if isinstance(config, DynamoDBEventConfig):
                table = table_name_from_stream_arn(config.stream_arn)
                sources.append(DynamoDBStreamSource(self, config.name, table, config.batch_size))
            elif isinstance(config, SNSEventConfig):
                sources.append(SNSSource(self, config.name, config.topic))
            elif isinstance(config, SQSEventConfig):
                sources.append(
                    SQSSource(self, config.name, config.queue, config.queue_arn, config.batch_size)
                )
            elif isinstance(config, ScheduledEventConfig):
                sources.append(ScheduleSource(self, config.name, config.schedule_expression))
            else:
                log.warning("event source %s (%s) is not run locally", config.name, type(config).__name__)
        return sources

    def setup(self) -> None:
        """Prepare every source (create queues, subscriptions, stream iterators)."""
        for source in self.sources:
            source.setup()
            if source.kind:
                self.dlq_url(source.name)
            log.info("pumping %s (%s)", source.name, type(source).__name__)

    def _run_source(self, source: Source) -> None:
        while not self._stop.is_set():
            try:
                busy = source.poll_once()
            except Exception:
                # The endpoint hiccupped (not the handler: invoke() handles those). Retry a
                # little later, so a stopped endpoint does not flood the log.
                log.exception("polling %s failed; retrying in 1 s", source.name)
                self._stop.wait(1.0)
                continue
            if not busy:
                self._stop.wait(self.poll_seconds)

    def start(self) -> Pump:
        """Set up every source and poll each in its own thread."""
        self.setup()
        for source in self.sources:
            thread = threading.Thread(
                target=self._run_source, args=(source,), name=f"pump-{source.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def request_stop(self) -> None:
        """Ask every polling thread to stop (safe from a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling (an invocation in progress finishes first)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def wait(self) -> None:
        """Block until :meth:`stop` is called (or a signal arrives)."""
        while not self._stop.wait(0.5):
            pass


def main() -> None:
    """``python -m local.pump [--env KEY=VALUE ...]``: pump the app's events until SIGTERM/Ctrl-C."""
    from local.stack import apply_stage_environment, parse_env_args

    parser = argparse.ArgumentParser(description="Run the Chalice app's event handlers locally.")
    parser.add_argument("--stage", default="local")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--ready-file", help="written once every subscription and iterator exists")
    args = parser.parse_args()
    # Same environment as `chalice local`: the stage's variables, then the stack's overrides.
    apply_stage_environment(parse_env_args(args.env), stage=args.stage)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)

    import app as chalice_app

    pump = Pump(chalice_app.app)
    signal.signal(signal.SIGTERM, lambda *_: pump.request_stop())
    pump.start()
    if args.ready_file:
        # The stack seeds only after this: an SNS message published before the pump's queue
        # is subscribed would be lost, as it would be in AWS without the subscription.
        Path(args.ready_file).write_text("ready\n")
    log.info("pump running: %d event sources, poll every %.2f s", len(pump.sources), pump.poll_seconds)
    with contextlib.suppress(KeyboardInterrupt):
        pump.wait()
    pump.stop()
    log.info(
        "pump stopped: invocations=%s failures=%s parked=%s",
        pump.stats.invocations,
        pump.stats.failures,
        pump.stats.parked,
    )


if __name__ == "__main__":
    main()
