"""Request models of the dm domain (limits from the issue; unknown fields are rejected)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from functions.core.models import RequestModel

UserId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Ulid = Annotated[
    str, StringConstraints(min_length=26, max_length=26, pattern=r"^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")
]

MAX_MEMBERS = 32  # with the creator
MAX_TEXT = 2000
PREVIEW_CHARS = 100


class CreateConversation(RequestModel):
    """``POST /v1/conversations``: one other member → direct, 2..31 → group."""

    member_ids: list[UserId] = Field(min_length=1, max_length=MAX_MEMBERS - 1)
    title: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class SendMessage(RequestModel):
    """``POST /v1/conversations/{id}/messages``: text, attachment, or both."""

    client_message_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)] | None = None
    attachment_id: Ulid | None = None
    reply_to: Ulid | None = None  # a message of the same conversation the reply quotes

    @model_validator(mode="after")
    def _has_content(self) -> SendMessage:
        if self.text is None and self.attachment_id is None:
            raise ValueError("a message needs text, an attachment_id, or both")
        if self.text is not None and not self.text.strip():
            raise ValueError("text must not be blank")
        return self


class MarkRead(RequestModel):
    """``POST /v1/conversations/{id}/read``."""

    message_id: Ulid


class SetMuted(RequestModel):
    """``PUT /v1/conversations/{id}/mute``."""

    muted: bool


class AddMembers(RequestModel):
    """``POST /v1/conversations/{id}/members``."""

    user_ids: list[UserId] = Field(min_length=1, max_length=MAX_MEMBERS - 1)


class CreateAttachment(RequestModel):
    """``POST /v1/attachments``: what the client is about to upload."""

    content_type: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    size_bytes: int = Field(ge=1)


ReportReason = Literal["spam", "harassment", "hate", "nudity", "violence", "other"]
ReportTarget = Literal["message", "user", "conversation", "stream_message"]


class CreateReport(RequestModel):
    """``POST /v1/reports``."""

    target_type: ReportTarget
    target_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    conversation_id: Ulid | None = None
    stream_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    reason: ReportReason
    details: Annotated[str, StringConstraints(max_length=1000)] | None = None


MAX_FORWARD_TARGETS = 20


class MessageRef(RequestModel):
    """A message by its conversation and id."""

    conversation_id: Ulid
    message_id: Ulid


class ForwardMessage(RequestModel):
    """``POST /v1/messages/forward``: one message into 1..20 distinct conversations."""

    source: MessageRef
    conversation_ids: list[Ulid] = Field(min_length=1, max_length=MAX_FORWARD_TARGETS)

    @model_validator(mode="after")
    def _distinct(self) -> ForwardMessage:
        if len(set(self.conversation_ids)) != len(self.conversation_ids):
            raise ValueError("conversation_ids must be distinct")
        return self
