"""Real-time delivery rules: plain Python, no chalice, no boto3, no environment.

Everything a rule needs arrives as a ``Protocol`` (connection store, member lookup, typing
throttle, frame sender, token verifier) or a plain value (``now``), so the rules are
unit-tested with in-memory fakes.

Delivery is best-effort: a frame that cannot be delivered is dropped (clients resync with
``after=`` on reconnect), a connection API Gateway reports as gone is forgotten — that one only.

A connection lives until its token's ``exp`` (at most 2 hours): past it, it receives nothing and
is closed the first time a frame would reach it (or by the every-minute sweep when idle).
Blocks are respected: no typing frame crosses a block either way, and frames about what a user
did (``read``) never reach someone with a block between them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from chalicelib.core.domain_events import DomainEvent
from chalicelib.core.errors import UnauthorizedError
from chalicelib.realtime.models import (
    CLIENT_FRAME,
    CONNECTION_TTL_SECONDS,
    MAX_CLIENT_FRAME_BYTES,
    SWEEP_LOOKBACK_MINUTES,
    Connection,
    PingFrame,
    TypingFrame,
)
from chalicelib.realtime.ports import (
    ConnectionStore,
    FrameSender,
    MemberDirectory,
    TokenVerifier,
    TypingThrottle,
)
from chalicelib.social.ports import BlockReader

# At most one typing frame per sender and conversation in this window.
TYPING_WINDOW_MS = 3_000
# Frames that say what their event's actor did: never delivered across a block (either way).
ACTOR_FRAMES = frozenset({"typing", "read"})

Frame = dict[str, Any]


class ConnectionGoneError(Exception):
    """The connection no longer exists (API Gateway's ``GoneException``)."""


class DeliveryFailedError(Exception):
    """A frame could not be posted for another reason (throttled, unavailable...)."""


@dataclass
class DeliveryReport:
    """What a fan-out did: frames posted, stale connections removed, expired ones closed,
    other failures."""

    sent: int = 0
    gone: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def encode(frame: Frame) -> bytes:
    """A frame as compact UTF-8 JSON (what the client receives as a text frame)."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()


def close_expired(
    connection: Connection, sender: FrameSender, store: ConnectionStore, report: DeliveryReport
) -> None:
    """Close an expired connection and forget it (kept for a later sweep if closing failed)."""
    try:
        sender.close(connection)
    except DeliveryFailedError:
        report.failed.append(connection.connection_id)
        return
    store.remove(connection)
    report.expired.append(connection.connection_id)


def fan_out(
    frame: Frame,
    connections: Iterable[Connection],
    sender: FrameSender,
    store: ConnectionStore,
    *,
    now: int,
) -> DeliveryReport:
    """Post ``frame`` to each connection; a gone connection is removed, an expired one (its
    token's ``exp`` passed, ``now`` in epoch seconds) is closed instead of posted to."""
    data = encode(frame)
    report = DeliveryReport()
    for connection in connections:
        if connection.expired(now):
            close_expired(connection, sender, store, report)
            continue
        try:
            sender.send(connection, data)
            report.sent += 1
        except ConnectionGoneError:
            store.remove(connection)
            report.gone.append(connection.connection_id)
        except DeliveryFailedError:
            report.failed.append(connection.connection_id)
    return report


# --- $connect / $disconnect -----------------------------------------------------------------


def connect(
    token: str | None,
    connection_id: str,
    endpoint: str,
    *,
    verifier: TokenVerifier,
    store: ConnectionStore,
    now: int,
) -> Connection:
    """Authenticate a new socket by its ``token`` and remember it under the user until the
    token's ``exp`` (at most 2 h, API Gateway's limit).

    Raises ``UnauthorizedError`` (the socket is refused) for a missing, invalid, expired or
    non-access token.
    """
    if not token or not token.strip():
        raise UnauthorizedError("Missing token query parameter.")
    identity = verifier.identity(token.strip())
    expires_at = min(identity.expires_at, now + CONNECTION_TTL_SECONDS)
    if expires_at <= now:
        # Within the verifier's clock-skew leeway, but the connection would be dead on arrival.
        raise UnauthorizedError("The token has expired.")
    connection = Connection(identity.user_id, connection_id, endpoint, expires_at=expires_at)
    store.add(connection, token_exp=identity.expires_at)
    return connection


def disconnect(connection_id: str, *, store: ConnectionStore) -> Connection | None:
    """Forget a closed socket; returns it, or ``None`` when it was unknown."""
    connection = store.owner(connection_id)
    if connection is not None:
        store.remove(connection)
    return connection


# --- client → server frames ($default) ------------------------------------------------------


def error_frame(code: str, message: str) -> Frame:
    """What a client receives when its frame is refused."""
    return {"type": "error", "code": code, "message": message}


def handle_client_frame(
    connection_id: str,
    body: str | bytes | None,
    *,
    store: ConnectionStore,
    members: MemberDirectory,
    throttle: TypingThrottle,
    blocks: BlockReader,
    sender: FrameSender,
    now_ms: int,
) -> DeliveryReport:
    """Act on one frame a client sent: ``ping`` → ``pong``; ``typing`` → relay to other members.

    A malformed frame or a conversation the sender is not in is answered with an ``error``
    frame; a typing frame within 3 s of the previous one (same sender and conversation) is
    dropped silently; typing is never stored beyond the throttle's short-lived marker. A frame
    on an expired connection closes it, unanswered.
    """
    caller = store.owner(connection_id)
    if caller is None:
        return DeliveryReport()
    now = now_ms // 1000
    if caller.expired(now):
        report = DeliveryReport()
        close_expired(caller, sender, store, report)
        return report
    raw = body.encode() if isinstance(body, str) else (body or b"")
    if len(raw) > MAX_CLIENT_FRAME_BYTES:
        reply = error_frame("payload_too_large", f"Frames are limited to {MAX_CLIENT_FRAME_BYTES} bytes.")
        return fan_out(reply, [caller], sender, store, now=now)
    try:
        frame = CLIENT_FRAME.validate_json(raw)
    except PydanticValidationError:
        reply = error_frame(
            "validation_error",
            'Expected {"action": "ping"} or {"action": "typing", "conversation_id": "..."}.',
        )
        return fan_out(reply, [caller], sender, store, now=now)
    if isinstance(frame, PingFrame):
        return fan_out({"type": "pong"}, [caller], sender, store, now=now)
    return relay_typing(
        caller,
        frame,
        members=members,
        throttle=throttle,
        blocks=blocks,
        store=store,
        sender=sender,
        now_ms=now_ms,
    )


def relay_typing(
    caller: Connection,
    frame: TypingFrame,
    *,
    members: MemberDirectory,
    throttle: TypingThrottle,
    blocks: BlockReader,
    store: ConnectionStore,
    sender: FrameSender,
    now_ms: int,
) -> DeliveryReport:
    """Relay ``typing`` to the other members' connections, at most once per 3 s, never to a
    member with a block between them and the sender (either way, silently: the sender cannot
    tell)."""
    now = now_ms // 1000
    conversation_id = frame.conversation_id
    member_ids = members.members(conversation_id)
    if caller.user_id not in member_ids:
        # Same answer for "no such conversation" and "not a member": nothing leaks.
        reply = error_frame("not_found", "Conversation not found.")
        return fan_out(reply, [caller], sender, store, now=now)
    if not throttle.acquire(caller.user_id, conversation_id, now_ms, TYPING_WINDOW_MS):
        return DeliveryReport()
    others = unblocked(blocks, caller.user_id, [m for m in member_ids if m != caller.user_id])
    if not others:
        return DeliveryReport()
    typing = {"type": "typing", "conversation_id": conversation_id, "user_id": caller.user_id}
    return fan_out(typing, store.connections_of(others, now), sender, store, now=now)


def unblocked(blocks: BlockReader, actor: str, others: Sequence[str]) -> list[str]:
    """``others`` without anyone ``actor`` blocked or who blocked ``actor`` (one batched read)."""
    if not others:
        return []
    blocked = blocks.blocked_either_way(actor, others)
    return [o for o in others if o not in blocked]


# --- outbox events → server frames ----------------------------------------------------------


def _pick(data: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: data[name] for name in names if name in data}


def frame_for_event(event: DomainEvent) -> Frame | None:
    """The frame an open app receives for a domain event, or ``None`` when none is pushed."""
    data = event.data
    if event.type == "message.sent" and isinstance(data.get("message"), dict):
        return {"type": "message.new", **_pick(data, "conversation_id"), "message": data["message"]}
    if event.type == "message.deleted":
        return {"type": "message.deleted", **_pick(data, "conversation_id", "message_id")}
    if event.type == "conversation.read":
        return {"type": "read", **_pick(data, "conversation_id", "user_id", "message_id")}
    if event.type == "conversation.request":
        return {**data, "type": "conversation.request"}
    if event.type in ("reaction.added", "reaction.removed"):
        return {"type": event.type, **_pick(data, "conversation_id", "message_id", "emoji", "user_id")}
    return None


def deliver_event(
    event: DomainEvent, *, store: ConnectionStore, sender: FrameSender, blocks: BlockReader, now: int
) -> DeliveryReport:
    """Push the event's frame to every open connection of its recipients; a frame about what
    its actor did (:data:`ACTOR_FRAMES`) skips recipients with a block between them and the actor."""
    frame = frame_for_event(event)
    recipients = list(dict.fromkeys(event.recipient_ids))
    if frame is None or not recipients:
        return DeliveryReport()
    if frame.get("type") in ACTOR_FRAMES and event.actor_id:
        recipients = unblocked(blocks, event.actor_id, recipients)
        if not recipients:
            return DeliveryReport()
    return fan_out(frame, store.connections_of(recipients, now), sender, store, now=now)


# --- the sweeper ----------------------------------------------------------------------------


def sweep_expired(
    store: ConnectionStore,
    sender: FrameSender,
    now: int,
    lookback_minutes: int = SWEEP_LOOKBACK_MINUTES,
) -> DeliveryReport:
    """Close and forget connections whose ``expires_at`` has passed (idle ones that no delivery
    closed), minute bucket by minute bucket over the last ``lookback_minutes``."""
    report = DeliveryReport()
    current = now // 60
    for minute in range(current - lookback_minutes, current + 1):
        for connection in store.expiring(minute):
            if connection.expired(now):
                close_expired(connection, sender, store, report)
    return report
