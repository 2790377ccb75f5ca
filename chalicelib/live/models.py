"""Request models and plain value types of the live domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, Field

from chalicelib.core.models import RequestModel

# Limits named by the issue (and a few of our own, kept small so items stay small).
TITLE_MAX = 120
CHAT_TEXT_MAX = 300
CLIENT_MESSAGE_ID_MAX = 64
SLOW_MODE_MAX_SECONDS = 120
BANNED_WORDS_MAX = 200
BANNED_WORD_MAX_LEN = 50
# K ≤ 50 keeps "end stream" (META + K shard states + 1 system message) within one
# 100-action transaction; 50 x 500 msgs/s = 25,000 msgs/s per room.
MAX_SHARDS = 50
MAX_ROOM_CAP = 25_000
DEFAULT_ROOM_CAP = 100
DEFAULT_SLOW_MODE_SECONDS = 1
MSGS_PER_SHARD_PER_SECOND = 500


class StartStreamRequest(RequestModel):
    """``POST /v1/streams``; the optional fields size the room (K and the cap)."""

    title: str = Field(min_length=1, max_length=TITLE_MAX)
    expected_peak_msgs_per_second: int | None = Field(default=None, ge=1, le=MAX_ROOM_CAP)
    room_cap: int | None = Field(default=None, ge=1, le=MAX_ROOM_CAP)


class StreamSettingsRequest(RequestModel):
    """``PATCH /v1/streams/{id}/settings`` (every field optional, at least one given).

    ``expected_peak_msgs_per_second`` re-sizes a live room: K only ever grows (a hot room gets
    more shards during the event; shrinking would strand messages in the dropped shards).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "description": "At least one of the settings, not null; banned words are not blank.",
                    "anyOf": [
                        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                        for name in (
                            "slow_mode_seconds",
                            "banned_words",
                            "room_cap",
                            "expected_peak_msgs_per_second",
                        )
                    ],
                    "properties": {
                        "banned_words": {
                            "anyOf": [
                                {
                                    "type": "array",
                                    "items": {
                                        "type": "string",
                                        "minLength": 1,
                                        "maxLength": 50,
                                        "pattern": "\\S",
                                    },
                                },
                                {"type": "null"},
                            ]
                        }
                    },
                }
            ]
        }
    )

    slow_mode_seconds: int | None = Field(default=None, ge=0, le=SLOW_MODE_MAX_SECONDS)
    banned_words: list[str] | None = Field(default=None, max_length=BANNED_WORDS_MAX)
    room_cap: int | None = Field(default=None, ge=1, le=MAX_ROOM_CAP)
    expected_peak_msgs_per_second: int | None = Field(default=None, ge=1, le=MAX_ROOM_CAP)


class PostChatRequest(RequestModel):
    """``POST /v1/streams/{id}/chat``."""

    client_message_id: str = Field(min_length=1, max_length=CLIENT_MESSAGE_ID_MAX)
    text: str = Field(min_length=1, max_length=CHAT_TEXT_MAX)


@dataclass(frozen=True)
class Stream:
    """A stream's META item as the logic sees it."""

    stream_id: str
    host_id: str
    title: str
    status: str
    started_at: str
    shards: int
    slow_mode_seconds: int = DEFAULT_SLOW_MODE_SECONDS
    banned_words: tuple[str, ...] = ()
    room_cap: int = DEFAULT_ROOM_CAP
    moderators: frozenset[str] = frozenset()
    ended_at: str | None = None
    # Every K the room had before the current one (K only grows): a message lives in the shard
    # its id hashed to under the K of the moment it was posted.
    earlier_shards: tuple[int, ...] = ()

    @property
    def shard_counts(self) -> tuple[int, ...]:
        """Every K this room has had, current last."""
        return (*sorted(set(self.earlier_shards) - {self.shards}), self.shards)

    @property
    def live(self) -> bool:
        """True while the stream is live."""
        return self.status == "live"

    def can_moderate(self, user_id: str) -> bool:
        """Host and moderators may ban and delete messages."""
        return user_id == self.host_id or user_id in self.moderators

    def view(self) -> dict[str, Any]:
        """The public fields of a stream (``POST /v1/streams`` reply)."""
        out: dict[str, Any] = {
            "stream_id": self.stream_id,
            "host_id": self.host_id,
            "title": self.title,
            "status": self.status,
            "started_at": self.started_at,
        }
        if self.ended_at:
            out["ended_at"] = self.ended_at
        return out


@dataclass(frozen=True)
class PostPlan:
    """Everything the one post transaction needs, decided by the logic."""

    stream_id: str
    shard: int
    sender_id: str
    client_message_id: str
    fingerprint: str
    message: dict[str, Any]
    now_ms: int
    # 0 = no slow-mode condition (host, moderators, or slow mode off).
    slow_mode_ms: int
    per_shard_cap: int


@dataclass(frozen=True)
class PostOutcome:
    """The stored message and whether this call created it (False = a replay)."""

    message: dict[str, Any]
    created: bool


@dataclass
class ShardPage:
    """The newest messages read from one shard (newest first or any order)."""

    shard: int
    items: list[dict[str, Any]] = field(default_factory=list)
    # True when the shard holds older messages than the ones read.
    truncated: bool = False
