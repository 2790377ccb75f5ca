"""Request and response models of the dm domain (limits from the issue; unknown fields are rejected)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from chalicelib.core import models as core
from chalicelib.core.models import RequestModel, ResponseModel, Timestamp, Url, omitted
from chalicelib.social.models import Presence

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

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "description": "text, attachment_id, or both; text not blank.",
                    "anyOf": [
                        {"required": ["text"], "properties": {"text": {"type": "string", "pattern": "\\S"}}},
                        {"required": ["attachment_id"], "properties": {"attachment_id": {"type": "string"}}},
                    ],
                    "properties": {
                        "text": {"anyOf": [{"type": "string", "pattern": "\\S"}, {"type": "null"}]}
                    },
                }
            ]
        }
    )

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


def _attachment_rules(schema: dict[str, Any]) -> None:
    """The accepted types and their size limits (``dm.logic``'s table), said in JSON Schema."""
    from chalicelib.dm.logic import ATTACHMENT_TYPES

    schema["allOf"] = [
        {
            "properties": {"content_type": {"enum": sorted(ATTACHMENT_TYPES)}},
            "allOf": [
                {
                    "if": {"properties": {"content_type": {"const": content_type}}},
                    "then": {"properties": {"size_bytes": {"maximum": limit}}},
                }
                for content_type, limit in sorted(ATTACHMENT_TYPES.items())
            ],
        }
    ]


class CreateAttachment(RequestModel):
    """``POST /v1/attachments``: what the client is about to upload."""

    model_config = ConfigDict(json_schema_extra=lambda schema: _attachment_rules(schema))

    content_type: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    size_bytes: int = Field(ge=1)


ReportReason = Literal["spam", "harassment", "hate", "nudity", "violence", "other"]
ReportTarget = Literal["message", "user", "conversation", "stream_message"]


class CreateReport(RequestModel):
    """``POST /v1/reports``."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "description": "A message report needs conversation_id; a stream_message report needs "
                    "stream_id.",
                    "allOf": [
                        {
                            "if": {"properties": {"target_type": {"const": "message"}}},
                            "then": {
                                "required": ["conversation_id"],
                                "properties": {"conversation_id": {"type": "string"}},
                            },
                        },
                        {
                            "if": {"properties": {"target_type": {"const": "stream_message"}}},
                            "then": {
                                "required": ["stream_id"],
                                "properties": {"stream_id": {"type": "string"}},
                            },
                        },
                    ],
                }
            ]
        }
    )

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

    model_config = ConfigDict(
        json_schema_extra={"allOf": [{"properties": {"conversation_ids": {"uniqueItems": True}}}]}
    )

    source: MessageRef
    conversation_ids: list[Ulid] = Field(min_length=1, max_length=MAX_FORWARD_TARGETS)

    @model_validator(mode="after")
    def _distinct(self) -> ForwardMessage:
        if len(set(self.conversation_ids)) != len(self.conversation_ids):
            raise ValueError("conversation_ids must be distinct")
        return self


# --- replies

Role = Literal["admin", "member"]
MessageType = Literal["text", "attachment", "video_share", "deleted"]


class DeletedMember(ResponseModel):
    """A deleted account stays in a direct conversation as ``{"user_id", "deleted": true}`` (issue 20)."""

    user_id: core.UserId
    deleted: Literal[True]


class ActiveMember(ResponseModel):
    """A member with their read marker and, for others, "active now"."""

    user_id: core.UserId
    role: Role
    last_read_message_id: core.Ulid | None = omitted()
    active: bool = omitted(description=Presence.model_fields["active"].description)
    last_active_at: int | None = omitted(ge=0, description="Epoch milliseconds of the last activity seen.")


Member = ActiveMember | DeletedMember


class Conversation(ResponseModel):
    """A conversation as its member sees it."""

    conversation_id: core.Ulid
    kind: Literal["direct", "group"]
    title: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None
    members: list[Member]
    created_at: Timestamp
    status: Literal["active", "request"]
    muted: bool
    not_added: list[core.UserId] = omitted(
        description="Group creation / member adds: users the caller may not message (not added)."
    )


class Reaction(ResponseModel):
    """One emoji on a message."""

    emoji: str = Field(min_length=1, max_length=32, description="One emoji grapheme.")
    count: int = Field(ge=1)
    me: bool = Field(description="Whether the caller reacted with it.")


Reactions = Annotated[
    list[Reaction], Field(max_length=30, description="Distinct emoji ordered by first use; exact counts.")
]


class LastMessage(ResponseModel):
    """The newest message of an inbox row."""

    message_id: core.Ulid
    sender_id: core.UserId
    type: MessageType
    preview: str = Field(max_length=PREVIEW_CHARS)
    sent_at: Timestamp
    reactions: Reactions = omitted()


class InboxMember(ResponseModel):
    """A member in an inbox row."""

    user_id: core.UserId
    role: Role


class InboxRow(ResponseModel):
    """One conversation of the inbox or the requests folder."""

    conversation_id: core.Ulid
    kind: Literal["direct", "group"]
    title: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None
    members: list[InboxMember | DeletedMember]
    status: Literal["active", "request"]
    muted: bool
    unread_count: int = Field(ge=0)
    last_message: LastMessage | None
    updated_at: Timestamp


class InboxPage(ResponseModel):
    """One page of the inbox."""

    items: list[InboxRow]
    next_cursor: core.NextCursor


class Attachment(ResponseModel):
    """A message's attachment."""

    attachment_id: core.Ulid
    content_type: Literal["image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4"]
    size_bytes: int = Field(ge=1)
    url: Url = omitted(description="Presigned GET, valid at most 15 minutes.")
    owner_id: core.UserId = omitted(description="A forwarded attachment: who uploaded it.")


class VideoCard(ResponseModel):
    """The shared video as the reader may see it now; ``{video_id, unavailable: true}`` once it
    became private or was deleted."""

    video_id: str = Field(min_length=1, max_length=128)
    title: str = omitted()
    author_id: core.UserId = omitted()
    thumbnail_url: Url = omitted()
    unavailable: Literal[True] = omitted()


class QuotedMessage(ResponseModel):
    """The quoted message as it is now."""

    message_id: core.Ulid
    sender_id: core.UserId
    type: Literal["text", "attachment", "video_share"]
    text: str = omitted(max_length=100)


class QuotedDeleted(ResponseModel):
    """A quoted message that was unsent."""

    message_id: core.Ulid
    deleted: Literal[True]


class Message(ResponseModel):
    """A message."""

    message_id: core.Ulid
    conversation_id: core.Ulid
    sender_id: core.UserId
    type: MessageType
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT)] | None
    client_message_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None
    sent_at: Timestamp
    reactions: Reactions
    attachment: Attachment = omitted()
    video: VideoCard = omitted()
    reply_to: QuotedMessage | QuotedDeleted = omitted(
        description="The quoted message as it is now (`{message_id, deleted: true}` once unsent)."
    )
    forwarded: Literal[True] = omitted()


class MessagePage(ResponseModel):
    """One page of messages."""

    items: list[Message]
    next_cursor: core.NextCursor


class ForwardTarget(ResponseModel):
    """What happened in one target conversation."""

    conversation_id: core.Ulid
    status: Literal["sent", "request", "not_allowed"]
    message_id: core.Ulid = omitted()


class ForwardResult(ResponseModel):
    """Per-conversation results of a forward."""

    results: list[ForwardTarget]


class MuteState(ResponseModel):
    """A conversation's mute state."""

    conversation_id: core.Ulid
    muted: bool


class ReportCreated(ResponseModel):
    """A recorded report."""

    report_id: core.Ulid


class PresignedPost(ResponseModel):
    """A presigned S3 POST: send `fields` plus the file as multipart/form-data."""

    url: Url
    fields: dict[str, str]


class AttachmentUpload(ResponseModel):
    """Where to upload one attachment."""

    attachment_id: core.Ulid
    upload: PresignedPost
    expires_at: Timestamp
