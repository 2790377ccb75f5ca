"""Publishing domain events within SNS's real limits (plain logic: no boto3, no environment).

- **Size.** SNS refuses a message over 256 KiB and a ``PublishBatch`` whose entries total more
  than 256 KiB, counting message attributes (name, data type and value of each). Events are
  packed greedily, in order, into batches of at most 10 entries and 256 KiB.
- **Claim check.** An event too big to travel inline (over ``INLINE_LIMIT_BYTES``) is stored
  whole (``store_body``, S3 in AWS) and the SNS message carries a small pointer: event id, type,
  occurred_at, actor, and ``claim_check: {bucket, key, bytes}``; the attributes stay the same, so
  subscription filter policies still match. Consumers resolve it with
  ``chalicelib.core.event_bodies.event_from_message``.
- **Errors.** Throttling, 5xx and connection errors retry the same batch with exponential
  backoff inside a time window; an entry SNS refuses for good (``SenderFault``) is parked in the
  dead-letter queue and the rest go on; a batch SNS refuses as a whole for its content (too long,
  an invalid parameter) is split in two until the refused event is alone, then parked. When the
  window runs out, the events from that batch on are reported failed: the stream retries them a
  bounded number of times (``infra/delivery.json``), then its on-failure destination gets them.
  No record is retried forever.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.core.domain_events import CLAIM_CHECK, DomainEvent
from chalicelib.core.observability import logger
from chalicelib.notify.ports import Transport

MAX_BATCH_ENTRIES = 10
# SNS's limit for one message and for the sum of a PublishBatch's entries (256 KiB).
MAX_PAYLOAD_BYTES = 262_144
# Inline up to this size. The 2 KiB below SNS's limit are headroom for the attributes added
# when the event is parked in the dead-letter queue (SQS's limit is also 256 KiB).
INLINE_LIMIT_BYTES = MAX_PAYLOAD_BYTES - 2048
BACKOFF_START_S = 0.1
BACKOFF_MAX_S = 2.0

Attributes = dict[str, dict[str, str]]


@dataclass(frozen=True)
class ClaimCheck:
    """Where a stored event body lives."""

    bucket: str
    key: str


@dataclass(frozen=True)
class Envelope:
    """One SNS entry: what is published for one event."""

    event_id: str
    event_type: str
    message: str
    attributes: Attributes
    claim_check: ClaimCheck | None = None

    @property
    def size(self) -> int:
        """Bytes SNS counts against its 256 KiB limits."""
        return payload_size(self.message, self.attributes)


def payload_size(message: str, attributes: Attributes) -> int:
    """SNS's accounting: the message's UTF-8 bytes plus, per attribute, the bytes of its name,
    data type and value."""
    total = len(message.encode())
    for name, attribute in attributes.items():
        total += len(name.encode()) + len(attribute.get("DataType", "").encode())
        total += len(attribute.get("StringValue", "").encode())
    return total


def attributes_of(event: DomainEvent) -> Attributes:
    """The ``type`` and ``recipient_ids`` attributes (subscription filter policies use them)."""
    attributes: Attributes = {"type": {"DataType": "String", "StringValue": event.type}}
    if event.recipient_ids:
        # SNS rejects an empty String.Array; events without recipients carry only ``type``.
        attributes["recipient_ids"] = {
            "DataType": "String.Array",
            "StringValue": json.dumps(event.recipient_ids, separators=(",", ":")),
        }
    return attributes


def encode(event: DomainEvent, store_body: Callable[[str, bytes], ClaimCheck]) -> Envelope:
    """The entry for ``event``: inline when it fits, else a claim check (the body is stored first)."""
    body = event.model_dump_json()
    attributes = attributes_of(event)
    if payload_size(body, attributes) <= INLINE_LIMIT_BYTES:
        return Envelope(event.event_id, event.type, body, attributes)
    data = body.encode()
    check = store_body(event.event_id, data)
    pointer = {
        "event_id": event.event_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "actor_id": event.actor_id,
        CLAIM_CHECK: {"bucket": check.bucket, "key": check.key, "bytes": len(data)},
    }
    return Envelope(event.event_id, event.type, json.dumps(pointer, separators=(",", ":")), attributes, check)


def plan_batches(
    envelopes: Sequence[Envelope], max_entries: int = MAX_BATCH_ENTRIES, max_bytes: int = MAX_PAYLOAD_BYTES
) -> list[list[int]]:
    """Indexes of ``envelopes`` packed in order into batches within both limits."""
    batches: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for index, envelope in enumerate(envelopes):
        size = envelope.size
        if current and (len(current) >= max_entries or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(index)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


class PublishError(Exception):
    """A whole PublishBatch call failed.

    ``kind``: ``retry`` (throttling, 5xx, connection: try the same batch again), ``split`` (SNS
    refused the batch for its content: halve it, and park an event refused alone), ``fatal``
    (configuration: the topic is missing or not allowed; no point retrying now).
    """

    def __init__(self, kind: Literal["retry", "split", "fatal"], code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.kind = kind
        self.code = code
        self.message = message


@dataclass(frozen=True)
class EntryFailure:
    """One entry of a PublishBatch that SNS did not accept."""

    position: int  # index in the list given to ``publish_batch``
    code: str
    sender_fault: bool
    message: str = ""


@dataclass
class PublishReport:
    """What one :func:`publish_events` call did."""

    failed: set[int]
    published: int = 0
    parked: int = 0
    calls: int = 0


def publish_events(
    events: Sequence[DomainEvent],
    store_body: Callable[[str, bytes], ClaimCheck],
    transport: Transport,
    *,
    retry_window_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> PublishReport:
    """Publish ``events`` in order; ``failed`` holds the indexes still to publish (from the first
    batch that did not make it within ``retry_window_s`` to the end)."""
    report = PublishReport(failed=set())
    envelopes: list[Envelope] = []
    for index, event in enumerate(events):
        try:
            envelopes.append(encode(event, store_body))
        except Exception:
            # The body store is down: publish what comes before, retry from this event.
            logger.exception("claim-check store failed", extra={"event_id": event.event_id})
            report.failed = set(range(index, len(events)))
            break
    deadline = clock() + max(0.0, retry_window_s)
    queue = deque(plan_batches(envelopes))
    backoff = BACKOFF_START_S
    while queue:
        batch = queue.popleft()
        try:
            report.calls += 1
            failures = transport.publish_batch([envelopes[i] for i in batch])
        except PublishError as err:
            if err.kind == "split" and len(batch) > 1:
                half = len(batch) // 2
                queue.extendleft([batch[half:], batch[:half]])
                continue
            if err.kind == "split":
                if _park(transport, envelopes[batch[0]], err.code, err.message):
                    report.parked += 1
                    continue
            elif err.kind == "retry" and clock() + backoff <= deadline:
                logger.warning("events publish throttled or failed; retrying", extra={"code": err.code})
                sleep(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
                queue.appendleft(batch)
                continue
            logger.warning("events publish gave up for now", extra={"code": err.code, "kind": err.kind})
            report.failed |= {i for b in (batch, *queue) for i in b}
            break
        retry: list[int] = []
        for failure in failures:
            envelope_index = batch[failure.position]
            if failure.sender_fault and _park(
                transport, envelopes[envelope_index], failure.code, failure.message
            ):
                report.parked += 1
            else:
                retry.append(envelope_index)
        report.published += len(batch) - len(failures)
        if retry:
            if clock() + backoff > deadline:
                report.failed |= set(retry) | {i for b in queue for i in b}
                break
            logger.warning("events partially published; retrying", extra={"entries": len(retry)})
            sleep(backoff)
            backoff = min(BACKOFF_MAX_S, backoff * 2)
            queue.appendleft(sorted(retry))
        else:
            backoff = BACKOFF_START_S
    return report


def _park(transport: Transport, envelope: Envelope, code: str, message: str) -> bool:
    try:
        transport.park(envelope, code, message)
    except Exception:
        logger.exception("parking a refused event failed", extra={"event_id": envelope.event_id})
        return False
    logger.error(
        "event refused by SNS and parked in the dead-letter queue",
        extra={"event_id": envelope.event_id, "type": envelope.event_type, "code": code, "reason": message},
    )
    return True


def parked_attributes(envelope: Envelope, code: str, message: str) -> dict[str, Any]:
    """SQS message attributes of a parked event (``local.dlq`` and ``make redrive`` read them)."""
    return {
        "parked_from": {"DataType": "String", "StringValue": "events-outbox"},
        "event_id": {"DataType": "String", "StringValue": envelope.event_id},
        "event_type": {"DataType": "String", "StringValue": envelope.event_type},
        "error_code": {"DataType": "String", "StringValue": code or "unknown"},
        "error_message": {"DataType": "String", "StringValue": (message or code or "refused")[:500]},
        "sns_attributes": {
            "DataType": "String",
            "StringValue": json.dumps(envelope.attributes, separators=(",", ":")),
        },
    }
