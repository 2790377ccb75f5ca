"""In-memory fakes of the realtime logic's protocols."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from functions.core.errors import UnauthorizedError
from functions.realtime.logic import ConnectionGoneError, DeliveryFailedError
from functions.realtime.models import Connection


class FakeVerifier:
    """Accepts ``token-<user>``; everything else is refused like a bad signature."""

    def verify(self, token: str) -> str:
        """The user id behind a fake token."""
        if not token.startswith("token-"):
            raise UnauthorizedError("The token is not valid.")
        return token.removeprefix("token-")


class FakeStore:
    """Connections in a dict: ``{connection_id: (connection, expires_at)}``."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[Connection, int]] = {}

    def add(self, connection: Connection, expires_at: int) -> None:
        """Remember a connection."""
        self.items[connection.connection_id] = (connection, expires_at)

    def owner(self, connection_id: str) -> Connection | None:
        """Look a connection up by id."""
        found = self.items.get(connection_id)
        return found[0] if found else None

    def remove(self, connection: Connection) -> None:
        """Forget a connection."""
        self.items.pop(connection.connection_id, None)

    def connections_of(self, user_ids: Sequence[str], now: int) -> list[Connection]:
        """Unexpired connections of these users."""
        return [c for c, exp in self.items.values() if c.user_id in user_ids and exp > now]


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
        self.gone = gone or set()
        self.broken = broken or set()

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
