"""Real-time delivery rules: plain Python, no chalice, no boto3, no environment.

Everything a rule needs arrives as a ``Protocol`` (connection store, member lookup, typing
throttle, frame sender, token verifier) or a plain value (``now``), so the rules are
unit-tested with in-memory fakes.

Delivery is best-effort: a frame that cannot be delivered is dropped (clients resync with
``after=`` on reconnect), a connection API Gateway reports as gone is forgotten — that one only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError as PydanticValidationError

from functions.core.domain_events import DomainEvent
from functions.core.errors import UnauthorizedError
from functions.realtime.models import (
    CLIENT_FRAME,
    CONNECTION_TTL_SECONDS,
    MAX_CLIENT_FRAME_BYTES,
    Connection,
    PingFrame,
    TypingFrame,
)

# At most one typing frame per sender and conversation in this window.
TYPING_WINDOW_MS = 3_000

Frame = dict[str, Any]


class ConnectionGoneError(Exception):
    """The connection no longer exists (API Gateway's ``GoneException``)."""


class DeliveryFailedError(Exception):
    """A frame could not be posted for another reason (throttled, unavailable...)."""


class TokenVerifier(Protocol):
    """Checks a bearer token and returns the user id (``functions.core.auth.TokenVerifier``)."""

    def verify(self, token: str) -> str:
        """``sub`` of a valid token; raises ``UnauthorizedError`` otherwise."""
        ...


class ConnectionStore(Protocol):
    """Where open connections are remembered, per user and by id."""

    def add(self, connection: Connection, expires_at: int) -> None:
        """Remember ``connection`` until ``expires_at`` (epoch seconds)."""
        ...

    def owner(self, connection_id: str) -> Connection | None:
        """The connection with this id, or ``None`` when unknown."""
        ...

    def remove(self, connection: Connection) -> None:
        """Forget one connection (no error when already gone)."""
        ...

    def connections_of(self, user_ids: Sequence[str], now: int) -> list[Connection]:
        """Every unexpired connection of these users."""
        ...


class MemberDirectory(Protocol):
    """Members of a conversation (the dm domain's member items)."""

    def members(self, conversation_id: str) -> list[str]:
        """User ids of the conversation's members (empty when it does not exist)."""
        ...


class TypingThrottle(Protocol):
    """A short-lived marker per sender and conversation."""

    def acquire(self, user_id: str, conversation_id: str, now_ms: int, window_ms: int) -> bool:
        """True when no typing frame was relayed for this pair in the last ``window_ms``."""
        ...


class FrameSender(Protocol):
    """Posts a frame to one connection (API Gateway's ``@connections`` API)."""

    def send(self, connection: Connection, data: bytes) -> None:
        """Post ``data``; raise :class:`ConnectionGoneError` or :class:`DeliveryFailedError`."""
        ...


@dataclass
class DeliveryReport:
    """What a fan-out did: frames posted, stale connections removed, other failures."""

    sent: int = 0
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def encode(frame: Frame) -> bytes:
    """A frame as compact UTF-8 JSON (what the client receives as a text frame)."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()


def fan_out(
    frame: Frame, connections: Iterable[Connection], sender: FrameSender, store: ConnectionStore
) -> DeliveryReport:
    """Post ``frame`` to each connection; a gone connection is removed, others are untouched."""
    data = encode(frame)
    report = DeliveryReport()
    for connection in connections:
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
    """Authenticate a new socket by its ``token`` and remember it under the user for 2 h.

    Raises ``UnauthorizedError`` (the socket is refused) for a missing, invalid or expired token.
    """
    if not token or not token.strip():
        raise UnauthorizedError("Missing token query parameter.")
    user_id = verifier.verify(token.strip())
    connection = Connection(user_id=user_id, connection_id=connection_id, endpoint=endpoint)
    store.add(connection, expires_at=now + CONNECTION_TTL_SECONDS)
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
    sender: FrameSender,
    now_ms: int,
) -> DeliveryReport:
    """Act on one frame a client sent: ``ping`` → ``pong``; ``typing`` → relay to other members.

    A malformed frame or a conversation the sender is not in is answered with an ``error``
    frame; a typing frame within 3 s of the previous one (same sender and conversation) is
    dropped silently; typing is never stored beyond the throttle's short-lived marker.
    """
    caller = store.owner(connection_id)
    if caller is None:
        return DeliveryReport()
    raw = body.encode() if isinstance(body, str) else (body or b"")
    if len(raw) > MAX_CLIENT_FRAME_BYTES:
        reply = error_frame("payload_too_large", f"Frames are limited to {MAX_CLIENT_FRAME_BYTES} bytes.")
        return fan_out(reply, [caller], sender, store)
    try:
        frame = CLIENT_FRAME.validate_json(raw)
    except PydanticValidationError:
        reply = error_frame(
            "validation_error",
            'Expected {"action": "ping"} or {"action": "typing", "conversation_id": "..."}.',
        )
        return fan_out(reply, [caller], sender, store)
    if isinstance(frame, PingFrame):
        return fan_out({"type": "pong"}, [caller], sender, store)
    return relay_typing(
        caller, frame, members=members, throttle=throttle, store=store, sender=sender, now_ms=now_ms
    )


def relay_typing(
    caller: Connection,
    frame: TypingFrame,
    *,
    members: MemberDirectory,
    throttle: TypingThrottle,
    store: ConnectionStore,
    sender: FrameSender,
    now_ms: int,
) -> DeliveryReport:
    """Relay ``typing`` to the other members' connections, at most once per 3 s."""
    conversation_id = frame.conversation_id
    member_ids = members.members(conversation_id)
    if caller.user_id not in member_ids:
        # Same answer for "no such conversation" and "not a member": nothing leaks.
        reply = error_frame("not_found", "Conversation not found.")
        return fan_out(reply, [caller], sender, store)
    if not throttle.acquire(caller.user_id, conversation_id, now_ms, TYPING_WINDOW_MS):
        return DeliveryReport()
    others = [m for m in member_ids if m != caller.user_id]
    if not others:
        return DeliveryReport()
    typing = {"type": "typing", "conversation_id": conversation_id, "user_id": caller.user_id}
    return fan_out(typing, store.connections_of(others, now_ms // 1000), sender, store)


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
    event: DomainEvent, *, store: ConnectionStore, sender: FrameSender, now: int
) -> DeliveryReport:
    """Push the event's frame to every open connection of its recipients."""
    frame = frame_for_event(event)
    recipients = list(dict.fromkeys(event.recipient_ids))
    if frame is None or not recipients:
        return DeliveryReport()
    return fan_out(frame, store.connections_of(recipients, now), sender, store)
