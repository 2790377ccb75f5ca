"""What the live logic needs from storage, as Protocols (dal.py implements them; unit tests
use in-memory fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from chalicelib.live.models import PostOutcome, PostPlan, ShardPage, Stream


class StreamRepository(Protocol):
    """Stream META, shard states, moderators and bans."""

    def create(self, stream: Stream) -> None:
        """Write META and the K shard states (one transaction)."""
        ...

    def get(self, stream_id: str) -> Stream | None:
        """A strongly consistent read of META."""
        ...

    def config(self, stream_id: str) -> Stream | None:
        """META for the post path: may be a few seconds old (cached per container)."""
        ...

    def end(self, stream: Stream, ended_at: str, system_message: dict[str, Any]) -> Stream:
        """Mark META and every shard state ended and add the ``stream_ended`` message, atomically."""
        ...

    def raise_shards(self, stream: Stream, shards: int) -> Stream:
        """Grow a live room to ``shards`` shards: the new shard states and META's K in one
        transaction (no-op when the room already has as many, or has ended)."""
        ...

    def update_settings(
        self,
        stream_id: str,
        host_id: str,
        *,
        slow_mode_seconds: int | None,
        banned_words: list[str] | None,
        room_cap: int | None,
    ) -> Stream:
        """Change chat settings if ``host_id`` is the host (raises not-found / not-host)."""
        ...

    def set_moderator(self, stream_id: str, host_id: str, user_id: str, *, on: bool) -> None:
        """Add or remove a moderator if ``host_id`` is the host."""
        ...

    def set_ban(self, stream_id: str, user_id: str, *, by: str, at: str, on: bool) -> None:
        """Ban or unban a user (idempotent)."""
        ...


class StreamSales(Protocol):
    """Closes the sales of an ended stream (checkout's pins and their stock shards, plugged in by
    ``app.py`` through :mod:`chalicelib.live.wiring`: live never imports checkout)."""

    def __call__(self, stream_id: str, now_ms: int, /) -> None:
        """Close every open sale of the stream; idempotent (a retried end calls it again)."""
        ...


class ChatRepository(Protocol):
    """Chat messages in K shards."""

    def post(self, plan: PostPlan) -> PostOutcome:
        """The one transaction of a post; raises the domain error of the first failed guard."""
        ...

    def find(
        self, stream_id: str, shard_counts: Sequence[int], message_id: str
    ) -> tuple[int, dict[str, Any]] | None:
        """``(shard, item)`` of a message, looking only where it can be: its hashed shard under
        each K the room has had, and shard 0 (system messages) — one bounded read."""
        ...

    def mark_deleted(self, stream_id: str, shard: int, message_id: str, *, by: str, at: str) -> None:
        """Hide a message from later reads (kept for trust-and-safety reports)."""
        ...

    def recent(self, stream_id: str, shards: int, per_shard: int) -> list[ShardPage]:
        """The newest ``per_shard`` messages of each shard (one Query per shard)."""
        ...


class SnapshotStore(Protocol):
    """Where the rolling chat snapshot of a room lives (an S3 object a CDN can serve)."""

    def read(self, stream_id: str) -> dict[str, Any] | None:
        """The snapshot, or None when none was written yet."""
        ...

    def write(self, stream_id: str, snapshot: dict[str, Any]) -> None:
        """Replace the snapshot."""
        ...


class SnapshotMarkers(Protocol):
    """Per-room marker that coalesces snapshot writes."""

    def try_acquire(self, stream_id: str, now_ms: int, min_interval_ms: int) -> bool:
        """Claim this second's snapshot write (False when one was written < interval ago)."""
        ...

    def mark_pending(self, stream_id: str, now_ms: int) -> None:
        """Record that a write was skipped; the marker's own stream record retries it later."""
        ...
