"""Publishing within SNS's real limits: size-split batches, claim checks, error classes, parking."""

from __future__ import annotations

import json
from collections.abc import Sequence

from chalicelib.core.domain_events import CLAIM_CHECK, DomainEvent, parse_event_message
from chalicelib.notify.publishing import (
    INLINE_LIMIT_BYTES,
    MAX_PAYLOAD_BYTES,
    EntryFailure,
    Envelope,
    PublishError,
    attributes_of,
    payload_size,
    plan_batches,
    publish_events,
)
from tests.unit.notify.fakes import FakeBodyStore, FakeTransport

MEMBERS = [f"{n:02d}" + "u" * 126 for n in range(31)]  # 31 members with 128-character ids


def _event(n: int, text: str = "hi", recipients: Sequence[str] = ("bob",)) -> DomainEvent:
    return DomainEvent(
        event_id=f"evt_{n:04d}",
        type="message.sent",
        occurred_at="2026-01-01T00:00:00.000Z",
        actor_id="alice",
        recipient_ids=list(recipients),
        data={"conversation_id": "c1", "message": {"text": text}, "preview": text[:100]},
    )


def _publish(
    events: Sequence[DomainEvent], transport: FakeTransport, window: float = 0.0
) -> tuple[set[int], FakeBodyStore]:
    bodies = FakeBodyStore()
    report = publish_events(events, bodies.put, transport, retry_window_s=window, sleep=lambda s: None)
    return report.failed, bodies


def test_size_counts_utf8_bytes_and_every_attributes_name_type_and_value() -> None:
    attributes = {"type": {"DataType": "String", "StringValue": "x"}}
    assert payload_size("😀", attributes) == 4 + len("type") + len("String") + 1


def test_small_events_go_ten_per_batch() -> None:
    transport = FakeTransport()
    failed, _ = _publish([_event(n) for n in range(100)], transport)
    assert failed == set()
    assert transport.calls == 10
    assert len(transport.published) == 100


def test_70_kb_group_messages_are_split_by_size_and_all_delivered() -> None:
    # Given 10 group messages of ~71 KB each (emoji text) to 31 long-id members
    text = "😀" * 16_500
    events = [_event(n, text, MEMBERS) for n in range(10)]
    sizes = [Envelope(e.event_id, e.type, e.model_dump_json(), attributes_of(e)).size for e in events]
    assert all(70_000 < s < 75_000 < INLINE_LIMIT_BYTES for s in sizes), sizes
    transport = FakeTransport()
    # When they are published
    failed, _ = _publish(events, transport)
    # Then every batch is within 256 KiB (the fake refuses bigger ones), nothing failed or parked
    assert failed == set()
    assert transport.parked == []
    assert [e.event_id for e in transport.published] == [e.event_id for e in events]
    assert transport.calls == len(plan_batches([*transport.published]))
    assert transport.calls == 4  # 3 + 3 + 3 + 1: four would pass 256 KiB


def test_an_event_over_the_inline_limit_travels_as_a_claim_check_consumers_resolve() -> None:
    # Given an event whose body is ~300 KB, between two small ones
    big = _event(1, "x" * 300_000, MEMBERS)
    transport = FakeTransport()
    # When published
    failed, bodies = _publish([_event(0), big, _event(2)], transport)
    # Then the SNS message is a small pointer with the same attributes, the body is stored
    assert failed == set()
    pointer = transport.published[1]
    assert pointer.size < 10_000
    assert pointer.attributes == attributes_of(big)
    check = json.loads(pointer.message)
    assert check["event_id"] == big.event_id and check["type"] == "message.sent"
    assert check[CLAIM_CHECK]["key"] in bodies.objects
    # And a consumer reads it back transparently
    assert parse_event_message(pointer.message, bodies.fetch) == big
    assert parse_event_message(transport.published[0].message, bodies.fetch) == _event(0)


def test_an_entry_refused_for_good_is_parked_and_the_rest_go_on() -> None:
    transport = FakeTransport(refused={"evt_0003"})
    failed, _ = _publish([_event(n) for n in range(12)], transport)
    assert failed == set()
    assert [(e.event_id, code) for e, code in transport.parked] == [("evt_0003", "InvalidParameter")]
    assert len(transport.published) == 11


def test_throttling_retries_the_batch_with_backoff_inside_the_window() -> None:
    transport = FakeTransport(outage=3)
    delays: list[float] = []
    report = publish_events(
        [_event(n) for n in range(5)],
        FakeBodyStore().put,
        transport,
        retry_window_s=30,
        sleep=delays.append,
        clock=lambda: sum(delays),
    )
    assert report.failed == set()
    assert len(transport.published) == 5
    assert delays == [0.1, 0.2, 0.4]


def test_an_outage_longer_than_the_window_reports_everything_from_that_batch_failed() -> None:
    transport = FakeTransport(outage=10**6)
    events = [_event(n) for n in range(15)]
    failed, _ = _publish(events, transport, window=0.0)
    assert failed == set(range(15))
    assert transport.published == []


def test_a_retryable_entry_failure_after_the_window_fails_from_it() -> None:
    transport = FakeTransport(failing={"evt_0012"})
    failed, _ = _publish([_event(n) for n in range(15)], transport)
    # (13 and 14 were accepted in the same call; the stream resumes at 12, consumers dedupe)
    assert failed == {12}


class RefusesWholeBatch(FakeTransport):
    """A batch holding ``poison`` is refused as a whole (InvalidParameter), as SNS does for a
    malformed attribute."""

    def __init__(self, poison: str) -> None:
        super().__init__()
        self.poison = poison

    def publish_batch(self, envelopes: Sequence[Envelope]) -> list[EntryFailure]:
        if any(e.event_id == self.poison for e in envelopes):
            self.calls += 1
            raise PublishError("split", "InvalidParameter", "bad attribute")
        return super().publish_batch(envelopes)


def test_a_batch_refused_as_a_whole_is_halved_until_the_bad_event_is_alone_and_parked() -> None:
    transport = RefusesWholeBatch("evt_0006")
    failed, _ = _publish([_event(n) for n in range(10)], transport)
    assert failed == set()
    assert [e.event_id for e, _ in transport.parked] == ["evt_0006"]
    assert sorted(e.event_id for e in transport.published) == [f"evt_{n:04d}" for n in range(10) if n != 6]


def test_a_down_body_store_fails_from_the_big_event_and_publishes_what_came_before() -> None:
    def down(event_id: str, body: bytes) -> object:
        raise ConnectionError("S3 down")

    transport = FakeTransport()
    events = [_event(0), _event(1, "x" * MAX_PAYLOAD_BYTES), _event(2)]
    report = publish_events(events, down, transport, retry_window_s=0)  # type: ignore[arg-type]
    assert report.failed == {1, 2}
    assert [e.event_id for e in transport.published] == ["evt_0000"]
