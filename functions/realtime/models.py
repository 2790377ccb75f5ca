"""Models of the realtime domain: stored connections, client frames, the discovery reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from functions.core.models import RequestModel, ResponseModel

# API Gateway closes every WebSocket connection after 2 hours; the stored item lives as long.
CONNECTION_TTL_SECONDS = 2 * 3600
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
