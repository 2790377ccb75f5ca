"""The outbox publisher: everything committed gets published, in order, with stable ids."""

from __future__ import annotations

from chalicelib.core.domain_events import DomainEvent, stable_event_id
from chalicelib.core.streams import StreamChange
from chalicelib.notify.publisher import publish_changes
from tests.unit.notify.fakes import FakePublisher


def _change(seq: int, events: int = 1) -> StreamChange:
    item = {"pk": "CONV#c1", "sk": f"MSG#{seq:04d}", "entity": "message", "events": events}
    return StreamChange(
        event_id=f"rec-{seq}",
        event_name="INSERT",
        sequence_number=f"{seq:021d}",
        keys={"pk": item["pk"], "sk": item["sk"]},
        new=item,
        old=None,
        approximate_ms=1_700_000_000_000 + seq,
    )


def message_mapper(change: StreamChange) -> list[DomainEvent]:
    """Like a domain mapper: ids derived from the change (key + sequence), never random."""
    item = change.item
    return [
        DomainEvent(
            event_id=stable_event_id("message.sent", item["pk"], item["sk"], change.sequence_number, str(n)),
            type="message.sent",
            occurred_at="2026-01-01T00:00:00.000Z",
            actor_id="alice",
            recipient_ids=["bob"],
            data={"conversation_id": "c1"},
        )
        for n in range(int(item["events"]))
    ]


def test_every_event_is_published_in_order_with_at_most_ten_per_call() -> None:
    # Given 25 committed messages
    changes = [_change(i) for i in range(25)]
    publisher = FakePublisher()
    # When the batch is processed
    result = publish_changes(changes, [message_mapper], publisher)
    # Then all 25 events went out, in stream order, in 3 calls, and no record is reported failed
    expected = [e.event_id for c in changes for e in message_mapper(c)]
    assert [e.event_id for e in publisher.published] == expected
    assert publisher.calls == 3
    assert result.batch_item_failures() == {"batchItemFailures": []}


def test_a_replayed_record_produces_the_same_event_id() -> None:
    publisher = FakePublisher()
    publish_changes([_change(7)], [message_mapper], publisher)
    publish_changes([_change(7)], [message_mapper], publisher)
    first, second = publisher.published
    assert first.event_id == second.event_id


def test_a_publish_failure_reports_from_that_record_and_the_retry_loses_nothing() -> None:
    # Given 5 records, and SNS refusing the event of record 2
    changes = [_change(i) for i in range(5)]
    failing_event = message_mapper(changes[2])[0].event_id
    publisher = FakePublisher(failing={failing_event})
    # When the batch is processed
    result = publish_changes(changes, [message_mapper], publisher)
    # Then record 2 is reported (Lambda retries from it), records 0-1 are out
    assert result.batch_item_failures() == {
        "batchItemFailures": [{"itemIdentifier": changes[2].sequence_number}]
    }
    # When SNS recovers and Lambda redelivers from record 2
    publisher.failing.clear()
    retry = publish_changes(changes[2:], [message_mapper], publisher)
    # Then every event was published at least once, and consumers can dedupe by event id
    assert retry.failed_sequence_number is None
    expected = {e.event_id for c in changes for e in message_mapper(c)}
    assert {e.event_id for e in publisher.published} == expected


def test_a_failure_in_a_multi_event_record_reports_the_record() -> None:
    changes = [_change(0), _change(1, events=3), _change(2)]
    failing_event = message_mapper(changes[1])[2].event_id
    result = publish_changes(changes, [message_mapper], FakePublisher(failing={failing_event}))
    assert result.failed_sequence_number == changes[1].sequence_number


def test_a_mapper_error_is_retried_instead_of_dropping_the_change() -> None:
    # Given a mapper that breaks on record 1
    def broken(change: StreamChange) -> list[DomainEvent]:
        if change.sequence_number == _change(1).sequence_number:
            raise KeyError("text")
        return message_mapper(change)

    publisher = FakePublisher()
    result = publish_changes([_change(0), _change(1), _change(2)], [broken], publisher)
    # Then record 0 is published and the batch resumes at record 1
    assert [e.event_id for e in publisher.published] == [message_mapper(_change(0))[0].event_id]
    assert result.failed_sequence_number == _change(1).sequence_number


def test_changes_without_events_publish_nothing() -> None:
    publisher = FakePublisher()
    result = publish_changes([_change(0)], [lambda change: []], publisher)
    assert publisher.calls == 0
    assert result.batch_item_failures() == {"batchItemFailures": []}
