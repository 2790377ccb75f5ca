"""Look up one live-chat message (used by reports in the dm domain)."""

from __future__ import annotations

from typing import Any


def find_chat_message(stream_id: str, message_id: str) -> dict[str, Any] | None:
    """``{"message_id", "sender_id", "text", "sent_at", "type"}`` of a chat message, or None."""
    return None
