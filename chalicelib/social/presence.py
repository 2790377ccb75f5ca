"""Presence ("active now"): who shows as active to whom (plain rules), and recording activity cheaply.

A user is active while they have an open WebSocket connection, or made an authenticated request
in the last 5 minutes. Both are stamped on their profile item: ``last_active_at`` (epoch ms,
written at most once a minute per user: a per-container throttle in front of a conditional
write), ``ws_open`` (open sockets, +1 on ``$connect``, -1 on ``$disconnect``) and ``ws_at``.

Visibility is reciprocal, as on TikTok and Instagram: a viewer sees a user's status only when
both keep ``show_activity_status`` on (the default) and no block separates them either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.social.ports import ActivityWriter, PresenceReader

ACTIVE_WINDOW_MS = 5 * 60 * 1000
WRITE_EVERY_MS = 60 * 1000
SOCKET_MAX_MS = 2 * 60 * 60 * 1000  # a connection lives at most 2 h (its item's TTL)

Item = dict[str, Any]


@dataclass(frozen=True)
class Status:
    """What one viewer sees of one user."""

    active: bool
    last_active_at: int | None

    def view(self) -> Item:
        """The ``active`` / ``last_active_at`` fields of a list entry or member."""
        return {"active": self.active, "last_active_at": self.last_active_at}


HIDDEN = Status(active=False, last_active_at=None)


def shows_status(profile: Mapping[str, Any]) -> bool:
    """``show_activity_status`` (default on)."""
    return profile.get("show_activity_status", True) is not False


def status_of(profile: Mapping[str, Any], now_ms: int) -> Status:
    """A user's own status from their profile's stamps."""
    last = profile.get("last_active_at")
    stamps = [int(v) for v in (last, profile.get("ws_at")) if v is not None]
    latest = max(stamps) if stamps else None
    ws_at = profile.get("ws_at")
    on_socket = (
        int(profile.get("ws_open") or 0) > 0 and ws_at is not None and now_ms - int(ws_at) < SOCKET_MAX_MS
    )
    if on_socket:
        return Status(active=True, last_active_at=now_ms)
    recent = last is not None and now_ms - int(last) < ACTIVE_WINDOW_MS
    return Status(active=recent, last_active_at=latest)


def visible_statuses(
    viewer: str,
    viewer_profile: Mapping[str, Any],
    profiles: Mapping[str, Mapping[str, Any]],
    blocked: set[str],
    others: Sequence[str],
    now_ms: int,
) -> dict[str, Status]:
    """What ``viewer`` sees of each of ``others`` (hidden: off on either side, or a block)."""
    mine = shows_status(viewer_profile)
    out: dict[str, Status] = {}
    for other in others:
        profile = profiles.get(other, {})
        if other == viewer:
            out[other] = status_of(viewer_profile, now_ms) if mine else HIDDEN
        elif not mine or other in blocked or not shows_status(profile):
            out[other] = HIDDEN
        else:
            out[other] = status_of(profile, now_ms)
    return out


def statuses(
    reader: PresenceReader, viewer: str, others: Sequence[str], now_ms: int, *, with_blocks: bool
) -> dict[str, Status]:
    """One batched read, then :func:`visible_statuses`."""
    viewer_profile, profiles, blocked = reader.presence_context(viewer, others, with_blocks=with_blocks)
    return visible_statuses(viewer, viewer_profile, profiles, blocked, others, now_ms)


# --- recording -----------------------------------------------------------------------------


class ActivityThrottle:
    """At most one write per user per minute from this container (the write itself is
    conditional, so containers together also write at most about once a minute)."""

    def __init__(self, max_users: int = 50_000) -> None:
        self._written: dict[str, int] = {}
        self._max_users = max_users
        self._owner: object | None = None

    def record(self, owner: object, user_id: str, now_ms: int, writer: Callable[[], ActivityWriter]) -> bool:
        """Stamp ``user_id`` active if this container did not in the last minute; True if written.

        ``owner`` identifies the table client: a new client (another table or endpoint) starts
        with an empty memory.
        """
        if owner is not self._owner:
            self._written.clear()
            self._owner = owner
        last = self._written.get(user_id)
        if last is not None and now_ms - last < WRITE_EVERY_MS:
            return False
        if len(self._written) >= self._max_users:
            self._written.clear()
        self._written[user_id] = now_ms
        return writer().touch_activity(user_id, now_ms, WRITE_EVERY_MS)

    def prime(self, user_ids: Sequence[str], now_ms: int) -> None:
        """Treat ``user_ids`` as stamped at ``now_ms`` (a warm container: benchmarks count an
        operation's steady-state calls and report the once-a-minute stamp as its own row)."""
        for user_id in user_ids:
            self._written[user_id] = now_ms


THROTTLE = ActivityThrottle()


def note_request(user_id: str, now_ms: int) -> None:
    """Called for every authenticated request: cheap (memory) unless a minute passed."""
    from chalicelib.core import clients
    from chalicelib.social.dal import graph

    THROTTLE.record(clients.dynamodb(), user_id, now_ms, graph)
