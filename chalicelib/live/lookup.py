"""Look up one live-chat message (used by reports in the dm domain)."""

from __future__ import annotations

from typing import Any

from chalicelib.core.ids import is_ulid
from chalicelib.live import dal
from chalicelib.live.snapshots import message_view


def find_chat_message(stream_id: str, message_id: str) -> dict[str, Any] | None:
    """``{"message_id", "sender_id", "text", "sent_at", "type", "deleted"}`` of a chat message,
    or None. Bounded: GetItem of the stream (for K) + one BatchGetItem of a few keys (the
    message's hashed shard under each K the room has had, and shard 0 for system messages)."""
    if not is_ulid(message_id):
        return None
    stream = dal.streams().get(stream_id)
    if stream is None:
        return None
    found = dal.chat().find(stream_id, stream.shard_counts, message_id)
    if found is None:
        return None
    _, item = found
    return {**message_view(item), "deleted": bool(item.get("deleted"))}
