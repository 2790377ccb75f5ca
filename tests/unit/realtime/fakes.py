"""In-memory fakes of the realtime logic's protocols."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chalicelib.core.auth import Identity
from chalicelib.core.errors import UnauthorizedError
from chalicelib.realtime.logic import ConnectionGoneError, DeliveryFailedError
from chalicelib.realtime.models import Connection


class FakeVerifier:
    """Accepts ``token-<user>`` (exp ``expires_at``) and ``token-<user>@<exp>``; everything else
    is refused like a bad signature."""

    def __init__(self, expires_at: int = 2_000_000_000) -> None:
        self.expires_at = expires_at

    def identity(self, token: str) -> Identity:
        """The user and expiry behind a fake token."""
        if not token.startswith("token-"):
            raise UnauthorizedError("The token is not valid.")
        user, _, exp = token.removeprefix("token-").partition("@")
        return Identity(user, int(exp) if exp else self.expires_at)


class FakeStore:
    """Connections in a dict: ``{connection_id: (connection, token_exp)}``."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[Connection, int]] = {}

    def add(self, connection: Connection, token_exp: int) -> None:
        """Remember a connection."""
        self.items[connection.connection_id] = (connection, token_exp)

    def owner(self, connection_id: str) -> Connection | None:
        """Look a connection up by id."""
        found = self.items.get(connection_id)
        return found[0] if found else None

    def remove(self, connection: Connection) -> None:
        """Forget a connection."""
        self.items.pop(connection.connection_id, None)

    def connections_of(self, user_ids: Sequence[str], now: int) -> list[Connection]:
        """Connections of these users, expired ones included (as the table returns them)."""
        return [c for c, _ in self.items.values() if c.user_id in user_ids]

    def expiring(self, minute: int) -> list[Connection]:
        """Connections whose expiry falls in this minute."""
        return [c for c, _ in self.items.values() if c.expires_at // 60 == minute]


class FakeBlocks:
    """Blocks as ``(blocker, blocked)`` pairs; counts the batched reads."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = set(pairs)
        self.reads = 0

    def blocked_either_way(self, user_id: str, others: Sequence[str]) -> set[str]:
        """Those of ``others`` with a block either way with ``user_id``."""
        self.reads += 1
        return {o for o in others if (user_id, o) in self.pairs or (o, user_id) in self.pairs}


class FakeMembers:
    """Conversations → member ids."""

    def __init__(self, conversations: dict[str, list[str]]) -> None:
        self.conversations = conversations

    def members(self, conversation_id: str) -> list[str]:
        """Members (empty for an unknown conversation)."""
        return list(self.conversations.get(conversation_id, []))


class FakeThrottle:
    """``{(user, conversation): until_ms}``."""

    def __init__(self) -> None:
        self.until: dict[tuple[str, str], int] = {}

    def acquire(self, user_id: str, conversation_id: str, now_ms: int, window_ms: int) -> bool:
        """Allow once per window."""
        if self.until.get((user_id, conversation_id), 0) > now_ms:
            return False
        self.until[(user_id, conversation_id)] = now_ms + window_ms
        return True


class FakeSender:
    """Records frames per connection; ids in ``gone`` raise Gone, in ``broken`` fail otherwise."""

    def __init__(self, gone: set[str] | None = None, broken: set[str] | None = None) -> None:
        self.frames: dict[str, list[dict[str, Any]]] = {}
        self.closed: list[str] = []
        self.gone = gone or set()
        self.broken = broken or set()

    def close(self, connection: Connection) -> None:
        """Record a close (``broken`` ids fail)."""
        if connection.connection_id in self.broken:
            raise DeliveryFailedError("throttled")
        self.closed.append(connection.connection_id)

    def send(self, connection: Connection, data: bytes) -> None:
        """Record or fail."""
        if connection.connection_id in self.gone:
            raise ConnectionGoneError(connection.connection_id)
        if connection.connection_id in self.broken:
            raise DeliveryFailedError("throttled")
        self.frames.setdefault(connection.connection_id, []).append(json.loads(data))

    def received(self, connection_id: str) -> list[dict[str, Any]]:
        """Frames one connection received."""
        return self.frames.get(connection_id, [])
