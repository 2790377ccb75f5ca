"""Errors of the live domain (each maps to a status and code in one place: chalicelib.core.web)."""

from __future__ import annotations

from chalicelib.core.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    UnprocessableError,
)


class StreamNotFoundError(NotFoundError):
    """The stream does not exist."""


class NotHostError(ForbiddenError):
    """Only the host of the stream may do this."""


class NotModeratorError(ForbiddenError):
    """Only the host or a moderator of the stream may do this."""


class BannedError(ForbiddenError):
    """You are banned from this stream's chat."""


class StreamEndedError(ConflictError):
    """The stream has ended; its chat is read-only."""

    code = "stream_ended"


class RejectedByModerationError(UnprocessableError):
    """The message contains a word the host has banned."""

    code = "rejected_by_moderation"


class SlowModeError(RateLimitedError):
    """Slow mode: wait before sending another message."""


class RoomBusyError(RateLimitedError):
    """The room is at its message cap; retry in a moment."""


class ChatMessageNotFoundError(NotFoundError):
    """The chat message does not exist."""
