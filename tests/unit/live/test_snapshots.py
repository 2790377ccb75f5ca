"""The rolling snapshot: merge over K shards, coalesced writes, and polls served from it."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core.clock import iso_from_ms
from chalicelib.core.cursor import encode_cursor
from chalicelib.core.errors import InvalidCursorError
from chalicelib.core.ids import new_ulid
from chalicelib.core.streams import StreamChange
from chalicelib.live.chat import poll_chat, shard_for
from chalicelib.live.errors import StreamNotFoundError
from chalicelib.live.snapshots import (
    SNAPSHOT_SIZE,
    build_snapshot,
    poll_after_ms,
    refresh_rooms,
    rooms_to_refresh,
)
from tests.unit.live.fakes import FakeChat, FakeMarkers, FakeSnapshots, FakeStreams, make_stream

NOW = 1_800_000_000_000
SECRET = "unit-secret"


def _fill(chat: FakeChat, n: int, shards: int, start_ms: int = NOW - 60_000, step_ms: int = 10) -> list[str]:
    """n messages in time order, each in its hashed shard; returns their ids."""
    ids = []
    for i in range(n):
        at = start_ms + i * step_ms
        message_id = new_ulid(at)
        chat.add(
            "S1", shard_for(message_id, shards), message_id=message_id, text=f"m{i}", sent_at=iso_from_ms(at)
        )
        ids.append(message_id)
    return ids


def _room(n: int, shards: int = 3) -> tuple[FakeStreams, FakeChat, FakeSnapshots, list[str]]:
    streams, chat, snapshots = FakeStreams(make_stream(shards=shards)), FakeChat(), FakeSnapshots()
    ids = _fill(chat, n, shards)
    refresh_rooms(["S1"], streams=streams, chat=chat, snapshots=snapshots, markers=FakeMarkers(), now_ms=NOW)
    return streams, chat, snapshots, ids


def _poll(streams: FakeStreams, snapshots: FakeSnapshots, cursor: str | None = None) -> dict[str, Any]:
    return poll_chat(streams, snapshots, stream_id="S1", caller="viewer", cursor=cursor, secret=SECRET)


def _cursor_after(message_id: str) -> str:
    return encode_cursor(SECRET, "viewer", "live-chat:S1", {"after": message_id})


def test_shards_merge_into_one_ulid_order_without_deleted_messages() -> None:
    # Given messages spread over 3 shards, one of them deleted
    chat = FakeChat()
    ids = _fill(chat, 30, 3)
    chat.mark_deleted("S1", shard_for(ids[7], 3), ids[7], by="host", at="")
    # When the snapshot is built
    snapshot = build_snapshot(make_stream(shards=3), chat.recent("S1", 3, 100), NOW)
    # Then it is every visible message, in the order they were sent
    assert [m["message_id"] for m in snapshot["messages"]] == ids[:7] + ids[8:]
    assert snapshot["covers_after"] == ""
    assert {len(chat.items[("S1", s)]) > 0 for s in range(3)} == {True}


def test_the_snapshot_keeps_the_last_100_and_says_where_it_starts() -> None:
    _, _, snapshots, ids = _room(130)
    snapshot = snapshots.objects["S1"]
    assert [m["message_id"] for m in snapshot["messages"]] == ids[-SNAPSHOT_SIZE:]
    assert snapshot["covers_after"] == ids[-SNAPSHOT_SIZE - 1]


def test_a_truncated_shard_never_leaves_holes() -> None:
    # Given one shard read only partly (fewer rows than it holds)
    chat = FakeChat()
    ids = _fill(chat, 40, 2)
    pages = chat.recent("S1", 2, 10)
    # When the snapshot is built
    snapshot = build_snapshot(make_stream(shards=2), pages, NOW)
    got = [m["message_id"] for m in snapshot["messages"]]
    # Then it is a contiguous suffix of the history starting at its boundary
    assert got == ids[len(ids) - len(got) :]
    assert snapshot["covers_after"] >= ids[len(ids) - len(got) - 1]


def test_backfill_without_a_cursor_is_the_last_50() -> None:
    streams, _, snapshots, ids = _room(80)
    page = _poll(streams, snapshots)
    assert [m["message_id"] for m in page["items"]] == ids[-50:]
    assert page["gap"] is False and snapshots.reads == 1


def test_a_cursor_returns_only_newer_messages_oldest_first() -> None:
    streams, _, snapshots, ids = _room(20)
    page = _poll(streams, snapshots, _cursor_after(ids[14]))
    assert [m["message_id"] for m in page["items"]] == ids[15:]
    again = _poll(streams, snapshots, page["next_cursor"])
    assert again["items"] == [] and again["gap"] is False


def test_a_cursor_older_than_the_snapshot_gets_all_of_it_and_a_gap() -> None:
    streams, _, snapshots, ids = _room(150)
    page = _poll(streams, snapshots, _cursor_after(ids[10]))
    assert page["gap"] is True
    assert [m["message_id"] for m in page["items"]] == ids[-SNAPSHOT_SIZE:]


def test_a_cursor_at_the_boundary_is_not_a_gap() -> None:
    streams, _, snapshots, ids = _room(150)
    page = _poll(streams, snapshots, _cursor_after(ids[-SNAPSHOT_SIZE - 1]))
    assert page["gap"] is False and len(page["items"]) == SNAPSHOT_SIZE


def test_foreign_or_tampered_cursors_are_invalid() -> None:
    streams, _, snapshots, ids = _room(5)
    other = encode_cursor(SECRET, "someone-else", "live-chat:S1", {"after": ids[0]})
    for bad in (other, _cursor_after(ids[0])[:-3] + "abc", "garbage"):
        with pytest.raises(InvalidCursorError):
            _poll(streams, snapshots, bad)


def test_no_snapshot_yet_is_empty_for_a_stream_and_404_otherwise() -> None:
    streams, snapshots = FakeStreams(make_stream()), FakeSnapshots()
    assert _poll(streams, snapshots)["items"] == []
    with pytest.raises(StreamNotFoundError):
        poll_chat(FakeStreams(), snapshots, stream_id="S1", caller="v", cursor=None, secret=SECRET)


def test_poll_hint_grows_with_room_activity() -> None:
    assert poll_after_ms(0) == 1000
    assert poll_after_ms(0) < poll_after_ms(10) < poll_after_ms(50) <= 5000
    assert poll_after_ms(1000) == 5000
    # A busy room's snapshot carries a longer hint than a quiet one's
    quiet_chat, busy_chat = FakeChat(), FakeChat()
    _fill(quiet_chat, 3, 1, start_ms=NOW - 9000, step_ms=3000)
    _fill(busy_chat, 100, 1, start_ms=NOW - 2000, step_ms=20)
    quiet = build_snapshot(make_stream(), quiet_chat.recent("S1", 1, 120), NOW)
    busy = build_snapshot(make_stream(), busy_chat.recent("S1", 1, 120), NOW)
    assert quiet["poll_after_ms"] < busy["poll_after_ms"]


def test_writes_are_coalesced_to_one_per_second_and_pending_rooms_catch_up() -> None:
    # Given a room receiving batches many times within one second
    streams, chat, snapshots, markers = FakeStreams(make_stream()), FakeChat(), FakeSnapshots(), FakeMarkers()
    ids = []
    for i in range(50):
        ids += _fill(chat, 1, 1, start_ms=NOW + i)
        refresh_rooms(
            ["S1"], streams=streams, chat=chat, snapshots=snapshots, markers=markers, now_ms=NOW + i * 10
        )
    # Then only one snapshot was written, and the room is pending
    assert snapshots.writes == 1 and "S1" in markers.pending
    # When the pending marker comes back after the second has passed
    refresh_rooms(["S1"], streams=streams, chat=chat, snapshots=snapshots, markers=markers, now_ms=NOW + 1500)
    # Then a second write carries every message and nothing is pending
    assert snapshots.writes == 2 and "S1" not in markers.pending
    assert [m["message_id"] for m in snapshots.objects["S1"]["messages"]] == ids


def _change(
    entity: str, event: str = "INSERT", old: dict[str, Any] | None = None, **new: Any
) -> StreamChange:
    return StreamChange(
        event_id="e",
        event_name=event,
        sequence_number="1",
        keys={},
        new={"entity": entity, **new} if new or event != "REMOVE" else None,
        old=old,
        approximate_ms=0,
    )


def test_rooms_to_refresh_follow_messages_status_changes_and_pending_markers() -> None:
    changes = [
        _change("chat_message", stream_id="A"),
        _change("chat_message", "MODIFY", stream_id="B", deleted=True),
        _change("stream", "MODIFY", old={"status": "live"}, stream_id="C", status="ended"),
        _change(
            "stream", "MODIFY", old={"status": "live"}, stream_id="D", status="live", slow_mode_seconds=3
        ),
        _change("chat_snapshot", "MODIFY", stream_id="E", pending_ms=5),
        _change("chat_snapshot", "MODIFY", stream_id="F", snapshot_at=5),
        _change("chat_rate_window", "MODIFY", stream_id="G"),
        _change("message", conversation_id="H"),
    ]
    assert rooms_to_refresh(changes) == {"A", "B", "C", "E"}
