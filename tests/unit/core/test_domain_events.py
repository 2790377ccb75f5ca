"""The one stream change → domain event helper the outbox mappers share."""

from __future__ import annotations

from chalicelib.core.domain_events import event_from_change, stable_event_id
from chalicelib.core.streams import StreamChange


def _change(sequence: str) -> StreamChange:
    return StreamChange(
        event_id="e1",
        event_name="INSERT",
        sequence_number=sequence,
        keys={"pk": "CONV#c1", "sk": "MSG#m1"},
        new={"entity": "message"},
        old=None,
        approximate_ms=1_700_000_000_000,
    )


def test_event_id_is_derived_from_type_key_and_sequence() -> None:
    # Given a change
    change = _change("42")
    # When it becomes an event
    event = event_from_change(
        change, "message.sent", {"a": 1}, occurred_at="t", actor="u1", recipients=["u2"]
    )
    # Then its id is the stable id of type + key + sequence and the fields are carried over
    assert event.event_id == stable_event_id("message.sent", "CONV#c1", "MSG#m1", "42")
    assert (event.type, event.occurred_at, event.actor_id, event.recipient_ids, event.data) == (
        "message.sent",
        "t",
        "u1",
        ["u2"],
        {"a": 1},
    )


def test_a_replayed_record_keeps_its_id_and_another_record_gets_another() -> None:
    # Given the same change twice and a later change of the same item
    first, again, later = (event_from_change(_change(s), "x", occurred_at="t") for s in ("1", "1", "2"))
    # Then the replay has the same id and the later change a new one
    assert first.event_id == again.event_id != later.event_id
    assert first.actor_id is None and first.recipient_ids == [] and first.data == {}
