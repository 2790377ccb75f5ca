"""Posting, deleting and polling live chat (plain logic: no chalice, no boto3)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from chalicelib.core import keys
from chalicelib.core.clock import iso_from_ms
from chalicelib.core.cursor import decode_cursor, encode_cursor
from chalicelib.core.errors import InvalidCursorError
from chalicelib.core.idempotency import fingerprint
from chalicelib.core.ids import is_ulid, new_ulid
from chalicelib.live.errors import (
    ChatMessageNotFoundError,
    NotModeratorError,
    RejectedByModerationError,
    StreamNotFoundError,
)
from chalicelib.live.models import PostChatRequest, PostOutcome, PostPlan
from chalicelib.live.ports import ChatRepository, SnapshotStore, StreamRepository
from chalicelib.live.snapshots import empty_snapshot, poll_after_ms

BACKFILL = 50
CHAT_MESSAGE_TTL_SECONDS = 30 * 24 * 3600
SYSTEM_SHARD = 0  # system messages (stream_ended, product_pinned) live on shard 0


def message_item(stream_id: str, shard: int, message: dict[str, Any], now_s: int) -> dict[str, Any]:
    """The stored item of a chat message (live owns it): its shard's key, ``shard``, and the
    30-day ``ttl`` every chat message gets."""
    # A user's messages are indexed under the user (GSI1) so an account deletion finds them in
    # every room (issue 20); system messages (type stream_ended, product_pinned) are not.
    owner = keys.gsi1(keys.user_chat_messages(message["sender_id"]), message["message_id"])
    return {
        **keys.chat_message(stream_id, shard, message["message_id"]),
        **(owner if message.get("type") == "chat" else {}),
        "entity": "chat_message",
        "stream_id": stream_id,
        "shard": shard,
        **message,
        keys.TTL: now_s + CHAT_MESSAGE_TTL_SECONDS,
    }


def pinned_product_message(
    stream_id: str, host_id: str, message_id: str, product: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    """The ``product_pinned`` system message another domain (checkout) writes in its own
    transaction: a chat item on the system shard with live's shard field and TTL."""
    message = {
        "message_id": message_id,
        "sender_id": host_id,
        "text": "",
        "sent_at": iso_from_ms(now_ms),
        "type": "product_pinned",
        "product": product,
    }
    return message_item(stream_id, SYSTEM_SHARD, message, now_ms // 1000)


def shard_for(message_id: str, shards: int) -> int:
    """The shard of a user message: a hash of its ULID, so writes spread evenly over K shards
    and the shard can be recomputed from the id (a lookup is one read, not K)."""
    if shards <= 1:
        return 0
    return int.from_bytes(hashlib.sha256(message_id.encode()).digest()[:8], "big") % shards


@lru_cache(maxsize=256)
def _banned_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    # Whole words: no letter/digit/underscore on either side (works for words like "f**k" too).
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def contains_banned_word(text: str, banned_words: Sequence[str]) -> bool:
    """True when ``text`` contains one of ``banned_words`` as a whole word, ignoring case."""
    pattern = _banned_pattern(tuple(banned_words))
    return bool(pattern and pattern.search(text))


def post_message(
    streams: StreamRepository,
    chat: ChatRepository,
    *,
    stream_id: str,
    sender_id: str,
    request: PostChatRequest,
    now_ms: int,
    new_id: Callable[[], str] = new_ulid,
) -> PostOutcome:
    """Post to a room in ONE transaction (ban, slow mode, room cap, idempotency, ended: all
    conditions of that transaction). Banned words are refused before anything is written."""
    stream = streams.config(stream_id)
    if stream is None:
        raise StreamNotFoundError("No such stream.")
    if contains_banned_word(request.text, stream.banned_words):
        raise RejectedByModerationError("The message contains a word this room does not allow.")
    message_id = new_id()
    exempt = stream.can_moderate(sender_id)
    message = {
        "message_id": message_id,
        "sender_id": sender_id,
        "text": request.text,
        "sent_at": iso_from_ms(now_ms),
        "type": "chat",
    }
    plan = PostPlan(
        stream_id=stream_id,
        shard=shard_for(message_id, stream.shards),
        sender_id=sender_id,
        client_message_id=request.client_message_id,
        fingerprint=fingerprint("live-chat", stream_id, request.text),
        message=message,
        now_ms=now_ms,
        slow_mode_ms=0 if exempt else stream.slow_mode_seconds * 1000,
        per_shard_cap=max(1, stream.room_cap // stream.shards),
    )
    return chat.post(plan)


def delete_message(
    streams: StreamRepository,
    chat: ChatRepository,
    *,
    stream_id: str,
    caller: str,
    message_id: str,
    now_ms: int,
) -> None:
    """Hide a message (host or moderator). Deleting a deleted message is a no-op (retry-safe)."""
    stream = streams.get(stream_id)
    if stream is None:
        raise StreamNotFoundError("No such stream.")
    if not stream.can_moderate(caller):
        raise NotModeratorError("Only the host or a moderator can delete messages.")
    found = chat.find(stream_id, stream.shard_counts, message_id) if is_ulid(message_id) else None
    if found is None:
        raise ChatMessageNotFoundError("No such message in this stream.")
    shard, item = found
    if item.get("deleted"):
        return
    chat.mark_deleted(stream_id, shard, message_id, by=caller, at=iso_from_ms(now_ms))


def _listing(stream_id: str) -> str:
    return f"live-chat:{stream_id}"


def poll_chat(
    streams: StreamRepository,
    snapshots: SnapshotStore,
    *,
    stream_id: str,
    caller: str,
    cursor: str | None,
    secret: str,
) -> dict[str, Any]:
    """Serve a poll from the room's snapshot only (one read whatever K is).

    No cursor: the last 50 messages. A cursor: only newer messages, oldest first; when the
    cursor is older than what the snapshot still covers, the whole snapshot and ``gap: true``.
    """
    after: str | None = None
    if cursor is not None:
        position = decode_cursor(secret, caller, _listing(stream_id), cursor)
        after = position.get("after")
        if not isinstance(after, str):
            raise InvalidCursorError("The cursor is malformed.")
    snapshot = snapshots.read(stream_id)
    if snapshot is None:
        # Nothing projected yet: tell an unknown stream (404) from a quiet new one.
        if streams.get(stream_id) is None:
            raise StreamNotFoundError("No such stream.")
        snapshot = empty_snapshot(stream_id)
    messages: list[dict[str, Any]] = snapshot.get("messages", [])
    gap = False
    if after is None:
        items = messages[-BACKFILL:]
    elif after < str(snapshot.get("covers_after", "")):
        items, gap = messages, True
    else:
        items = [m for m in messages if m["message_id"] > after]
    position_after = items[-1]["message_id"] if items else (after or "")
    return {
        "items": items,
        "next_cursor": encode_cursor(secret, caller, _listing(stream_id), {"after": position_after}),
        "poll_after_ms": int(snapshot.get("poll_after_ms", poll_after_ms(0.0))),
        "gap": gap,
    }
