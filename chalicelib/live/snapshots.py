"""The rolling chat snapshot of a room: built from the K shards, written at most once per
second per room (plain logic: no chalice, no boto3)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from chalicelib.core.clock import iso_from_ms, ms_from_iso
from chalicelib.core.streams import StreamChange
from chalicelib.live.models import ShardPage, Stream
from chalicelib.live.ports import ChatRepository, SnapshotMarkers, SnapshotStore, StreamRepository

SNAPSHOT_SIZE = 100
SNAPSHOT_INTERVAL_MS = 1000
ACTIVITY_WINDOW_MS = 10_000
POLL_MIN_MS = 1000
POLL_MAX_MS = 5000
POLL_MS_PER_MSG_PER_SECOND = 40


def per_shard_limit(shards: int) -> int:
    """How many of each shard's newest messages to read: twice its fair share of the snapshot
    (hashing spreads evenly) plus slack for deleted ones, never more than the snapshot + 20."""
    return min(SNAPSHOT_SIZE + 20, math.ceil(2 * SNAPSHOT_SIZE / max(1, shards)) + 10)


def poll_after_ms(rate_per_second: float) -> int:
    """Polling hint: 1 s in a quiet room, growing 40 ms per msg/s, at most 5 s (busy rooms
    are skimmed, as on YouTube; the snapshot never repeats or reorders)."""
    return int(min(POLL_MAX_MS, POLL_MIN_MS + POLL_MS_PER_MSG_PER_SECOND * rate_per_second))


def message_view(item: dict[str, Any]) -> dict[str, Any]:
    """The public shape of a chat message (user or system)."""
    view = {
        "message_id": item["message_id"],
        "sender_id": item.get("sender_id", ""),
        "text": item.get("text", ""),
        "sent_at": item.get("sent_at", ""),
        "type": item.get("type", "chat"),
    }
    if item.get("product") is not None:
        view["product"] = item["product"]
    return view


def activity(messages: list[dict[str, Any]], now_ms: int) -> float:
    """Messages per second over the last 10 s (from the span of the snapshot when it is full)."""
    times = [ms_from_iso(m["sent_at"]) for m in messages if m.get("sent_at")]
    recent = [t for t in times if t >= now_ms - ACTIVITY_WINDOW_MS]
    if not recent:
        return 0.0
    if len(recent) == len(times) and len(times) >= SNAPSHOT_SIZE:
        # The snapshot holds less than the window: measure over its own span.
        span_s = max(0.1, (now_ms - min(recent)) / 1000)
        return round(len(recent) / span_s, 2)
    return round(len(recent) / (ACTIVITY_WINDOW_MS / 1000), 2)


def empty_snapshot(stream_id: str, status: str = "live") -> dict[str, Any]:
    """The snapshot of a room nobody has written in yet."""
    return {
        "stream_id": stream_id,
        "status": status,
        "covers_after": "",
        "messages": [],
        "rate_per_second": 0.0,
        "poll_after_ms": poll_after_ms(0.0),
    }


def build_snapshot(stream: Stream, pages: list[ShardPage], now_ms: int) -> dict[str, Any]:
    """Merge the shards' newest messages into one ULID-ordered list of the last 100 visible.

    ``covers_after``: every visible message with a greater id is in the snapshot. A cursor at
    or after it is served exactly; an older cursor gets the whole snapshot flagged as a gap.
    Messages older than a truncated shard's oldest read are dropped, so the snapshot is always
    a contiguous suffix of the room's history (it may skip, it never has holes).
    """
    boundary = ""
    for page in pages:
        if page.truncated and page.items:
            boundary = max(boundary, min(str(i["message_id"]) for i in page.items))
    merged = sorted(
        (i for p in pages for i in p.items if not i.get("deleted")), key=lambda i: str(i["message_id"])
    )
    merged = [i for i in merged if str(i["message_id"]) >= boundary] if boundary else merged
    if len(merged) > SNAPSHOT_SIZE:
        boundary = max(boundary, str(merged[-SNAPSHOT_SIZE - 1]["message_id"]))
        merged = merged[-SNAPSHOT_SIZE:]
    messages = [message_view(i) for i in merged]
    rate = activity(messages, now_ms)
    return {
        "stream_id": stream.stream_id,
        "status": stream.status,
        "generated_at": iso_from_ms(now_ms),
        "covers_after": boundary,
        "messages": messages,
        "rate_per_second": rate,
        "poll_after_ms": poll_after_ms(rate),
    }


def rooms_to_refresh(changes: Iterable[StreamChange]) -> set[str]:
    """Rooms whose snapshot a batch of table changes makes stale.

    Chat messages (new, deleted), a stream starting or changing status, and the room's own
    snapshot marker when a skipped write left it ``pending`` (that is how a quiet room's last
    messages still reach the snapshot after a coalesced-away write).
    """
    rooms: set[str] = set()
    for change in changes:
        entity, item = change.entity(), change.item
        stream_id = item.get("stream_id")
        if not isinstance(stream_id, str):
            continue
        if entity == "chat_message" and change.event_name in ("INSERT", "MODIFY", "REMOVE"):
            rooms.add(stream_id)
        elif entity == "stream" and change.event_name in ("INSERT", "MODIFY"):
            old_status = (change.old or {}).get("status")
            if change.event_name == "INSERT" or old_status != (change.new or {}).get("status"):
                rooms.add(stream_id)
        elif entity == "chat_snapshot" and change.new and change.new.get("pending_ms") is not None:
            rooms.add(stream_id)
    return rooms


def refresh_rooms(
    rooms: Iterable[str],
    *,
    streams: StreamRepository,
    chat: ChatRepository,
    snapshots: SnapshotStore,
    markers: SnapshotMarkers,
    now_ms: int,
) -> list[str]:
    """Rewrite each room's snapshot unless it was written in the last second; a skipped room
    is marked pending so that it is written once the second has passed. Returns rooms written."""
    written: list[str] = []
    for stream_id in sorted(set(rooms)):
        if not markers.try_acquire(stream_id, now_ms, SNAPSHOT_INTERVAL_MS):
            markers.mark_pending(stream_id, now_ms)
            continue
        stream = streams.get(stream_id)
        if stream is None:
            continue
        pages = chat.recent(stream_id, stream.shards, per_shard_limit(stream.shards))
        snapshots.write(stream_id, build_snapshot(stream, pages, now_ms))
        written.append(stream_id)
    return written
