"""In-memory fakes of the live repositories (the Protocols in chalicelib.live.ports)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from chalicelib.live.chat import shard_for
from chalicelib.live.errors import NotHostError, StreamNotFoundError
from chalicelib.live.models import PostOutcome, PostPlan, ShardPage, Stream


class FakeStreams:
    """Streams in a dict; bans in a set."""

    def __init__(self, *streams: Stream) -> None:
        self.streams = {s.stream_id: s for s in streams}
        self.bans: set[tuple[str, str]] = set()
        self.ended_messages: list[dict[str, Any]] = []

    def create(self, stream: Stream) -> None:
        self.streams[stream.stream_id] = stream

    def get(self, stream_id: str) -> Stream | None:
        return self.streams.get(stream_id)

    def config(self, stream_id: str) -> Stream | None:
        return self.streams.get(stream_id)

    def end(self, stream: Stream, ended_at: str, system_message: dict[str, Any]) -> Stream:
        ended = dataclasses.replace(stream, status="ended", ended_at=ended_at)
        self.streams[stream.stream_id] = ended
        self.ended_messages.append(system_message)
        return ended

    def raise_shards(self, stream: Stream, shards: int) -> Stream:
        current = self.streams[stream.stream_id]
        if not current.live or current.shards >= shards:
            return current
        self.streams[stream.stream_id] = dataclasses.replace(
            current, shards=shards, earlier_shards=(*current.earlier_shards, current.shards)
        )
        return self.streams[stream.stream_id]

    def _owned(self, stream_id: str, host_id: str) -> Stream:
        stream = self.streams.get(stream_id)
        if stream is None:
            raise StreamNotFoundError()
        if stream.host_id != host_id:
            raise NotHostError()
        return stream

    def update_settings(
        self,
        stream_id: str,
        host_id: str,
        *,
        slow_mode_seconds: int | None,
        banned_words: list[str] | None,
        room_cap: int | None,
    ) -> Stream:
        stream = self._owned(stream_id, host_id)
        changes: dict[str, Any] = {}
        if slow_mode_seconds is not None:
            changes["slow_mode_seconds"] = slow_mode_seconds
        if banned_words is not None:
            changes["banned_words"] = tuple(banned_words)
        if room_cap is not None:
            changes["room_cap"] = room_cap
        self.streams[stream_id] = dataclasses.replace(stream, **changes)
        return self.streams[stream_id]

    def set_moderator(self, stream_id: str, host_id: str, user_id: str, *, on: bool) -> None:
        stream = self._owned(stream_id, host_id)
        mods = set(stream.moderators) | {user_id} if on else set(stream.moderators) - {user_id}
        self.streams[stream_id] = dataclasses.replace(stream, moderators=frozenset(mods))

    def set_ban(self, stream_id: str, user_id: str, *, by: str, at: str, on: bool) -> None:
        if on:
            self.bans.add((stream_id, user_id))
        else:
            self.bans.discard((stream_id, user_id))


class FakeChat:
    """Records post plans and stores messages per (stream, shard)."""

    def __init__(self) -> None:
        self.plans: list[PostPlan] = []
        self.items: dict[tuple[str, int], list[dict[str, Any]]] = {}

    def add(self, stream_id: str, shard: int, **message: Any) -> dict[str, Any]:
        item = {"stream_id": stream_id, "type": "chat", "sender_id": "u", "text": "", **message}
        self.items.setdefault((stream_id, shard), []).append(item)
        return item

    def post(self, plan: PostPlan) -> PostOutcome:
        self.plans.append(plan)
        self.add(plan.stream_id, plan.shard, **plan.message)
        return PostOutcome(message=plan.message, created=True)

    def find(
        self, stream_id: str, shard_counts: Sequence[int], message_id: str
    ) -> tuple[int, dict[str, Any]] | None:
        for shard in {0, *(shard_for(message_id, k) for k in shard_counts)}:
            for item in self.items.get((stream_id, shard), []):
                if item["message_id"] == message_id:
                    return shard, item
        return None

    def mark_deleted(self, stream_id: str, shard: int, message_id: str, *, by: str, at: str) -> None:
        for item in self.items.get((stream_id, shard), []):
            if item["message_id"] == message_id:
                item["deleted"] = True

    def recent(self, stream_id: str, shards: int, per_shard: int) -> list[ShardPage]:
        pages = []
        for shard in range(shards):
            items = sorted(self.items.get((stream_id, shard), []), key=lambda i: i["message_id"])
            pages.append(ShardPage(shard, items[-per_shard:][::-1], truncated=len(items) > per_shard))
        return pages


class FakeSnapshots:
    """Snapshots in a dict, counting writes."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self.reads = 0

    def read(self, stream_id: str) -> dict[str, Any] | None:
        self.reads += 1
        return self.objects.get(stream_id)

    def write(self, stream_id: str, snapshot: dict[str, Any]) -> None:
        self.writes += 1
        self.objects[stream_id] = snapshot


class FakeMarkers:
    """The snapshot marker's conditional update, in memory."""

    def __init__(self) -> None:
        self.snapshot_at: dict[str, int] = {}
        self.pending: dict[str, int] = {}

    def try_acquire(self, stream_id: str, now_ms: int, min_interval_ms: int) -> bool:
        last = self.snapshot_at.get(stream_id)
        if last is not None and last > now_ms - min_interval_ms:
            return False
        self.snapshot_at[stream_id] = now_ms
        self.pending.pop(stream_id, None)
        return True

    def mark_pending(self, stream_id: str, now_ms: int) -> None:
        self.pending[stream_id] = now_ms


class FakeSales:
    """live's ``StreamSales``: records each close; ``fail`` makes the next ones raise (a crash
    between ending the stream and closing its sales)."""

    def __init__(self) -> None:
        self.closed: list[tuple[str, int]] = []
        self.fail = False

    def __call__(self, stream_id: str, now_ms: int, /) -> None:
        if self.fail:
            raise RuntimeError("closing the sales failed")
        self.closed.append((stream_id, now_ms))


def make_stream(stream_id: str = "S1", **overrides: Any) -> Stream:
    """A live stream hosted by ``host``."""
    fields: dict[str, Any] = {
        "stream_id": stream_id,
        "host_id": "host",
        "title": "t",
        "status": "live",
        "started_at": "2026-01-01T00:00:00.000Z",
        "shards": 1,
        **overrides,
    }
    return Stream(**fields)
