"""What the realtime logic needs from storage and services, as Protocols (the dal and
clients implement them; unit tests use in-memory fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from chalicelib.core.auth import Identity

if TYPE_CHECKING:
    from chalicelib.realtime.models import (
        Connection,
    )


class TokenVerifier(Protocol):
    """Checks a bearer token and returns the user id (``chalicelib.core.auth.TokenVerifier``)."""

    def identity(self, token: str) -> Identity:
        """The user and the token's ``exp`` of a valid token; raises ``UnauthorizedError`` otherwise."""
        ...


class ConnectionStore(Protocol):
    """Where open connections are remembered, per user and by id."""

    def add(self, connection: Connection, token_exp: int) -> None:
        """Remember ``connection`` until its ``expires_at``, with its token's ``exp``."""
        ...

    def owner(self, connection_id: str) -> Connection | None:
        """The connection with this id, or ``None`` when unknown."""
        ...

    def remove(self, connection: Connection) -> None:
        """Forget one connection (no error when already gone)."""
        ...

    def connections_of(self, user_ids: Sequence[str], now: int) -> list[Connection]:
        """The connections of these users (expired ones included, with their ``expires_at``:
        delivery closes them)."""
        ...

    def expiring(self, minute: int) -> list[Connection]:
        """Connections whose ``expires_at`` falls in this epoch minute (the sweeper's work list)."""
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

    def close(self, connection: Connection) -> None:
        """Close the socket (``DeleteConnection``; already gone is fine); may raise
        :class:`DeliveryFailedError`."""
        ...
