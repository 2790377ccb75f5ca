"""Models of the realtime domain: stored connections, client frames, the discovery reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from chalicelib.core.models import RequestModel, ResponseModel

# API Gateway closes every WebSocket connection after 2 hours; the stored item lives as long.
CONNECTION_TTL_SECONDS = 2 * 3600
# The sweeper looks this many minutes back for expired connections (covers missed runs).
SWEEP_LOOKBACK_MINUTES = 10
# A client frame larger than this is refused before parsing (API Gateway's own limit is 128 KB).
MAX_CLIENT_FRAME_BYTES = 4 * 1024


@dataclass(frozen=True)
class Connection:
    """An open WebSocket connection of a user.

    ``endpoint`` is the management API (``https://{domain}/{stage}``) that can post to it,
    remembered at ``$connect`` so subscribers outside a WebSocket event can reach it.
    """

    user_id: str
    connection_id: str
    endpoint: str = ""
    # Epoch seconds after which the connection receives nothing and is closed: its token's
    # ``exp``, or 2 hours after ``$connect`` when that comes first (0: unknown, never expires).
    expires_at: int = 0

    def expired(self, now: int) -> bool:
        """True once ``expires_at`` has passed (``now`` in epoch seconds)."""
        return 0 < self.expires_at <= now


class TypingFrame(RequestModel):
    """``{"action": "typing", "conversation_id": ...}``: the sender is typing."""

    action: Literal["typing"]
    conversation_id: str = Field(min_length=1, max_length=128)


class PingFrame(RequestModel):
    """``{"action": "ping"}``: keep-alive; answered with ``{"type": "pong"}``."""

    action: Literal["ping"]


ClientFrame = Annotated[TypingFrame | PingFrame, Field(discriminator="action")]
CLIENT_FRAME: TypeAdapter[TypingFrame | PingFrame] = TypeAdapter(ClientFrame)


class RealtimeEndpoint(ResponseModel):
    """``GET /v1/realtime``: where the client opens its WebSocket."""

    url: str
