"""Request and response models and the video-platform event model of the share domain."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.core import models as core
from chalicelib.core.clock import ms_from_iso
from chalicelib.core.models import RequestModel, ResponseModel, Timestamp, Url, omitted

MAX_RECIPIENTS = 20
MAX_NOTE_CHARS = 500
MAX_ID_CHARS = 128
MAX_TITLE_CHARS = 500

Visibility = Literal["public", "friends", "private"]
VideoEventType = Literal["video.published", "video.updated", "video.deleted"]


class ShareRequest(RequestModel):
    """``POST /v1/videos/{video_id}/shares`` body."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "properties": {
                        "recipient_ids": {"uniqueItems": True, "items": {"minLength": 1, "maxLength": 128}},
                        "conversation_ids": {
                            "uniqueItems": True,
                            "items": {"minLength": 1, "maxLength": 128},
                        },
                    },
                    "anyOf": [
                        {"required": ["recipient_ids"], "properties": {"recipient_ids": {"minItems": 1}}},
                        {
                            "required": ["conversation_ids"],
                            "properties": {"conversation_ids": {"minItems": 1}},
                        },
                    ],
                }
            ]
        }
    )

    recipient_ids: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    # Direct or group conversations the sharer is an active member of, beside (or instead of) people.
    conversation_ids: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    note: str | None = Field(default=None, max_length=MAX_NOTE_CHARS)

    @model_validator(mode="after")
    def _targets(self) -> ShareRequest:
        total = len(self.recipient_ids) + len(self.conversation_ids)
        if not 1 <= total <= MAX_RECIPIENTS:
            raise ValueError(f"give 1 to {MAX_RECIPIENTS} recipient_ids and conversation_ids in total")
        for cid in self.conversation_ids:
            if not 1 <= len(cid) <= MAX_ID_CHARS:
                raise ValueError(f"each conversation id must be 1 to {MAX_ID_CHARS} characters")
        if len(set(self.conversation_ids)) != len(self.conversation_ids):
            raise ValueError("conversation ids must be distinct")
        return self

    @field_validator("recipient_ids")
    @classmethod
    def _distinct_ids(cls, value: list[str]) -> list[str]:
        for rid in value:
            if not 1 <= len(rid) <= MAX_ID_CHARS:
                raise ValueError(f"each recipient id must be 1 to {MAX_ID_CHARS} characters")
        if len(set(value)) != len(value):
            raise ValueError("recipient ids must be distinct")
        return value


class VideoEvent(BaseModel):
    """One message of the video platform's ``video-events`` topic.

    Unknown fields are ignored (the platform may add some); published/updated events must carry
    the author, title and visibility; a deleted event needs only the id and time.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    type: VideoEventType
    video_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    author_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_CHARS)
    title: str | None = Field(default=None, max_length=MAX_TITLE_CHARS)
    visibility: Visibility | None = None
    thumbnail_key: str | None = Field(default=None, min_length=1, max_length=1024)
    occurred_at: str = Field(min_length=1, max_length=64)

    @field_validator("occurred_at")
    @classmethod
    def _iso_time(cls, value: str) -> str:
        ms_from_iso(value)  # raises ValueError when not ISO-8601
        return value

    @model_validator(mode="after")
    def _complete(self) -> VideoEvent:
        if self.type != "video.deleted" and (
            self.author_id is None or self.title is None or self.visibility is None
        ):
            raise ValueError(f"{self.type} needs author_id, title and visibility")
        return self

    @property
    def occurred_ms(self) -> int:
        """``occurred_at`` as epoch milliseconds (the ordering key)."""
        return ms_from_iso(self.occurred_at)


# --- replies

ShareStatus = Literal["sent", "request", "not_allowed"]


class Video(ResponseModel):
    """A video the caller may see."""

    video_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    author_id: core.UserId
    title: str = Field(max_length=MAX_TITLE_CHARS)
    visibility: Visibility
    share_count: int = Field(ge=0)
    thumbnail_url: Url = omitted()


class RecipientResult(ResponseModel):
    """A share to one person."""

    recipient_id: core.UserId
    status: ShareStatus
    conversation_id: core.Ulid = omitted()
    message_id: core.Ulid = omitted()


class ConversationResult(ResponseModel):
    """A share into one conversation."""

    conversation_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    status: ShareStatus
    message_id: core.Ulid = omitted()


class ShareResult(ResponseModel):
    """Per-target results of one share."""

    share_id: core.Ulid
    video_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    share_count: int = Field(ge=0)
    results: list[RecipientResult | ConversationResult]


class ShareSuggestion(ResponseModel):
    """Someone to share with."""

    user_id: core.UserId
    last_interaction_at: Timestamp | None


class ShareSuggestions(ResponseModel):
    """`next_cursor` is always null: one page of at most `limit` people."""

    items: list[ShareSuggestion]
    next_cursor: core.NextCursor
