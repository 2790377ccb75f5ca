"""Domain errors of the dm domain (each maps to one status and code through ``chalicelib.core.web``)."""

from __future__ import annotations

from chalicelib.core.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ValidationError,
)


class ConversationNotFoundError(NotFoundError):
    """The conversation does not exist or the caller is not a member."""


class MessageNotFoundError(NotFoundError):
    """The message does not exist in this conversation."""


class MessagingForbiddenError(ForbiddenError):
    """The caller may not message this person."""


class RequestPendingError(ForbiddenError):
    """The recipient has not accepted the message request yet."""


class NotSenderError(ForbiddenError):
    """Only the sender may unsend a message."""


class NotAdminError(ForbiddenError):
    """Only the group's admin may do this."""


class SendRateLimitedError(RateLimitedError):
    """Too many messages; slow down."""


class UploadRateLimitedError(RateLimitedError):
    """The day's upload quota (count or bytes) is used up."""


class AttachmentInvalidError(ValidationError):
    """The attachment is unknown, not yours, not uploaded, or not an allowed type."""


class AttachmentTooLargeError(PayloadTooLargeError):
    """The attachment is larger than allowed for its type."""


class ReportTargetNotFoundError(NotFoundError):
    """The reported object does not exist or the caller cannot see it."""


class DuplicateClientMessageError(Exception):
    """The sender already used this ``client_message_id`` here (carries the original's id)."""

    def __init__(self, message_id: str, fingerprint: str) -> None:
        super().__init__(message_id)
        self.message_id = message_id
        self.fingerprint = fingerprint


class DirectExistsError(Exception):
    """A concurrent request created the pair's direct conversation first."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(conversation_id)
        self.conversation_id = conversation_id


class GroupReplayError(Exception):
    """An Idempotency-Key of this caller already created a group (carries its record)."""

    def __init__(self, fingerprint: str, response: dict[str, object]) -> None:
        super().__init__(fingerprint)
        self.fingerprint = fingerprint
        self.response = response


class TooManyReactionsError(ConflictError):
    """The message already carries the maximum number of distinct emoji."""

    code = "too_many_reactions"


class MessageDeletedError(ConflictError):
    """The message was unsent (a tombstone): it cannot be reacted to."""

    code = "message_deleted"


class ForwardReplayError(Exception):
    """An Idempotency-Key of this caller already forwarded (carries its record)."""

    def __init__(self, fingerprint: str, response: dict[str, object]) -> None:
        super().__init__(fingerprint)
        self.fingerprint = fingerprint
        self.response = response
