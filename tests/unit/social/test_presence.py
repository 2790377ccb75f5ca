"""Presence rules: who is active, who may see it, and how often activity is written."""

from __future__ import annotations

from chalicelib.social.presence import (
    ACTIVE_WINDOW_MS,
    HIDDEN,
    SOCKET_MAX_MS,
    ActivityThrottle,
    Status,
    status_of,
    visible_statuses,
)

NOW = 1_800_000_000_000


def test_active_within_five_minutes_of_a_request() -> None:
    assert status_of({"last_active_at": NOW - ACTIVE_WINDOW_MS + 1}, NOW).active is True
    old = status_of({"last_active_at": NOW - ACTIVE_WINDOW_MS}, NOW)
    assert old == Status(active=False, last_active_at=NOW - ACTIVE_WINDOW_MS)
    assert status_of({}, NOW) == Status(active=False, last_active_at=None)


def test_an_open_socket_keeps_a_user_active() -> None:
    on = {"ws_open": 1, "ws_at": NOW - 60 * 60 * 1000, "last_active_at": NOW - 60 * 60 * 1000}
    assert status_of(on, NOW) == Status(active=True, last_active_at=NOW)
    closed = {**on, "ws_open": 0}
    assert status_of(closed, NOW).active is False
    # A socket older than any connection can live (a lost $disconnect) no longer counts
    assert status_of({**on, "ws_at": NOW - SOCKET_MAX_MS}, NOW).active is False


def test_hidden_when_either_side_turned_it_off_or_a_block_separates() -> None:
    profiles = {
        "bob": {"last_active_at": NOW},
        "carol": {"last_active_at": NOW, "show_activity_status": False},
    }
    seen = visible_statuses("alice", {}, profiles, {"dave"}, ["bob", "carol", "dave"], NOW)
    assert seen["bob"].active is True
    assert seen["carol"] == HIDDEN and seen["dave"] == HIDDEN
    # Alice turned hers off: she sees nobody's
    off = visible_statuses("alice", {"show_activity_status": False}, profiles, set(), ["bob"], NOW)
    assert off["bob"] == HIDDEN


class Writer:
    def __init__(self) -> None:
        self.writes: list[tuple[str, int]] = []

    def touch_activity(self, user_id: str, now_ms: int, min_gap_ms: int) -> bool:
        self.writes.append((user_id, now_ms))
        return True


def test_at_most_one_write_per_user_per_minute() -> None:
    throttle, writer, owner = ActivityThrottle(), Writer(), object()
    for t in (0, 1_000, 59_999):
        throttle.record(owner, "bob", NOW + t, lambda: writer)
    throttle.record(owner, "carol", NOW, lambda: writer)
    throttle.record(owner, "bob", NOW + 60_000, lambda: writer)
    assert writer.writes == [("bob", NOW), ("carol", NOW), ("bob", NOW + 60_000)]
    # Another table client (another endpoint) starts fresh
    throttle.record(object(), "bob", NOW + 60_001, lambda: writer)
    assert len(writer.writes) == 4
