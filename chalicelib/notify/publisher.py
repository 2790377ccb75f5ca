"""The outbox publisher: committed table changes → domain events → the events topic.

Plain logic: the mappers (each domain's ``outbox.events_from_change``) and the publisher are
passed in. Records are handled in stream order; at the first failure everything from that
record on is reported failed, so Lambda retries from there (``ReportBatchItemFailures``) and
nothing is lost. Events published before the failure may go out again; consumers deduplicate
by ``event_id``, which mappers derive from the change itself.

The publisher packs events within SNS's limits, claim-checks bodies over 256 KiB, retries
throttling with backoff inside ``retry_window_s`` and parks events SNS refuses for good
(``chalicelib.notify.publishing``): one refused event never holds back the rest of its shard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chalicelib.core.domain_events import DomainEvent
from chalicelib.core.observability import logger
from chalicelib.core.streams import StreamChange
from chalicelib.notify.ports import EventPublisher

Mapper = Callable[[StreamChange], list[DomainEvent]]


@dataclass(frozen=True)
class OutboxResult:
    """Outcome of one stream batch."""

    published: int
    failed_sequence_number: str | None = None

    def batch_item_failures(self) -> dict[str, list[dict[str, str]]]:
        """Lambda's partial-batch response (stream semantics: retry from the first failure)."""
        if self.failed_sequence_number is None:
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": self.failed_sequence_number}]}


def publish_changes(
    changes: Sequence[StreamChange],
    mappers: Sequence[Mapper],
    publisher: EventPublisher,
    retry_window_s: float = 0.0,
) -> OutboxResult:
    """Map every change to events and publish them in order, stopping at the first failure."""
    pending: list[tuple[int, DomainEvent]] = []
    first_failed: int | None = None
    for index, change in enumerate(changes):
        try:
            pending += [(index, event) for mapper in mappers for event in mapper(change)]
        except Exception:
            # A mapper bug must not drop the change: report it failed so it is retried.
            logger.exception("outbox mapping failed", extra={"sequence_number": change.sequence_number})
            first_failed = index
            break
    failed = publisher.publish([event for _, event in pending], retry_window_s) if pending else set()
    published = len(pending) - len(failed)
    if failed:
        failed_index = min(pending[i][0] for i in failed)
        first_failed = failed_index if first_failed is None else min(first_failed, failed_index)
    if first_failed is None:
        return OutboxResult(published)
    logger.warning(
        "outbox publish incomplete", extra={"failed_record": first_failed, "records": len(changes)}
    )
    return OutboxResult(published, changes[first_failed].sequence_number)
