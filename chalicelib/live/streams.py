"""Stream lifecycle and room moderation (plain logic: no chalice, no boto3)."""

from __future__ import annotations

import math
from typing import Any

from chalicelib.core.clock import iso_from_ms
from chalicelib.core.errors import UnprocessableError, ValidationError
from chalicelib.live.errors import NotHostError, NotModeratorError, StreamNotFoundError
from chalicelib.live.models import (
    BANNED_WORD_MAX_LEN,
    DEFAULT_ROOM_CAP,
    DEFAULT_SLOW_MODE_SECONDS,
    MAX_SHARDS,
    MSGS_PER_SHARD_PER_SECOND,
    StartStreamRequest,
    Stream,
    StreamSettingsRequest,
)
from chalicelib.live.ports import StreamRepository, StreamSales

SYSTEM_SENDER = "system"


def shard_count(expected_peak_msgs_per_second: int) -> int:
    """K = ceil(peak ÷ 500), at least 1 and at most ``MAX_SHARDS``."""
    return max(1, min(MAX_SHARDS, math.ceil(expected_peak_msgs_per_second / MSGS_PER_SHARD_PER_SECOND)))


def start_stream(
    streams: StreamRepository, *, host_id: str, request: StartStreamRequest, stream_id: str, now_ms: int
) -> Stream:
    """Start a live stream hosted by the caller; K is sized from the expected peak (or the cap)."""
    room_cap = request.room_cap or DEFAULT_ROOM_CAP
    stream = Stream(
        stream_id=stream_id,
        host_id=host_id,
        title=request.title,
        status="live",
        started_at=iso_from_ms(now_ms),
        shards=shard_count(request.expected_peak_msgs_per_second or room_cap),
        slow_mode_seconds=DEFAULT_SLOW_MODE_SECONDS,
        room_cap=room_cap,
    )
    streams.create(stream)
    return stream


def get_stream(streams: StreamRepository, stream_id: str) -> Stream:
    """The stream, or 404."""
    stream = streams.get(stream_id)
    if stream is None:
        raise StreamNotFoundError("No such stream.")
    return stream


def _hosted_stream(streams: StreamRepository, stream_id: str, caller: str, refusal: str) -> Stream:
    """The stream, or 404; 403 with ``refusal`` unless the caller hosts it."""
    stream = get_stream(streams, stream_id)
    if stream.host_id != caller:
        raise NotHostError(refusal)
    return stream


def end_stream(
    streams: StreamRepository,
    sales: StreamSales,
    *,
    stream_id: str,
    caller: str,
    message_id: str,
    now_ms: int,
) -> Stream:
    """End a stream (host only), then close its sales (orders never check the stream: its stock
    shards must refuse them). Ending an ended stream returns it unchanged but closes the sales
    again (idempotent), so a retry heals a crash between the two steps."""
    stream = _hosted_stream(streams, stream_id, caller, "Only the host can end the stream.")
    if stream.live:
        stream = _end(streams, stream, message_id, now_ms)
    sales(stream_id, now_ms)
    return stream


def _end(streams: StreamRepository, stream: Stream, message_id: str, now_ms: int) -> Stream:
    """META and the chat shard states → ended, with the ``stream_ended`` message (one write)."""
    ended_at = iso_from_ms(now_ms)
    system_message: dict[str, Any] = {
        "message_id": message_id,
        "sender_id": stream.host_id,
        "text": "",
        "sent_at": ended_at,
        "type": "stream_ended",
    }
    return streams.end(stream, ended_at, system_message)


def normalise_banned_words(words: list[str]) -> list[str]:
    """Trimmed, lower-cased, de-duplicated words; empty or over-long ones are rejected."""
    out: list[str] = []
    for raw in words:
        word = raw.strip().lower()
        if not word or len(word) > BANNED_WORD_MAX_LEN:
            raise ValidationError(f"banned_words entries must be 1 to {BANNED_WORD_MAX_LEN} characters.")
        if word not in out:
            out.append(word)
    return out


def update_settings(
    streams: StreamRepository, *, stream_id: str, caller: str, request: StreamSettingsRequest
) -> Stream:
    """Change slow mode, banned words, the room cap or the room's size (host only).

    A larger ``expected_peak_msgs_per_second`` adds shards to a live room (K never shrinks);
    posts, snapshots, moderator deletes and the end of the stream all follow the new K.
    """
    chat_settings = (request.slow_mode_seconds, request.banned_words, request.room_cap)
    if all(value is None for value in chat_settings) and request.expected_peak_msgs_per_second is None:
        raise ValidationError(
            "Give at least one of slow_mode_seconds, banned_words, room_cap, expected_peak_msgs_per_second."
        )
    words = normalise_banned_words(request.banned_words) if request.banned_words is not None else None
    if any(value is not None for value in chat_settings):
        stream = streams.update_settings(
            stream_id,
            caller,
            slow_mode_seconds=request.slow_mode_seconds,
            banned_words=words,
            room_cap=request.room_cap,
        )
    else:
        stream = _hosted_stream(streams, stream_id, caller, "Only the host can change this.")
    if request.expected_peak_msgs_per_second is not None:
        # A no-op (no write) when the room has ended or already has as many shards.
        stream = streams.raise_shards(stream, shard_count(request.expected_peak_msgs_per_second))
    return stream


def set_moderator(streams: StreamRepository, *, stream_id: str, caller: str, user_id: str, on: bool) -> None:
    """Appoint or remove a moderator (host only; idempotent)."""
    streams.set_moderator(stream_id, caller, user_id, on=on)


def set_ban(
    streams: StreamRepository, *, stream_id: str, caller: str, user_id: str, on: bool, now_ms: int
) -> None:
    """Ban or unban a user from the chat (host or moderator; the host cannot be banned)."""
    stream = get_stream(streams, stream_id)
    if not stream.can_moderate(caller):
        raise NotModeratorError("Only the host or a moderator can ban users.")
    if on and user_id == stream.host_id:
        raise UnprocessableError("The host cannot be banned.")
    streams.set_ban(stream_id, user_id, by=caller, at=iso_from_ms(now_ms), on=on)
