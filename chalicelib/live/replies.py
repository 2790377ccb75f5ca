"""Response models of the live domain (the bodies its routes reply with)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.core.models import Currency, ResponseModel, Timestamp, Ulid, Url, UserId, omitted
from chalicelib.live.models import MAX_ROOM_CAP, MAX_SHARDS, SLOW_MODE_MAX_SECONDS, TITLE_MAX


class Stream(ResponseModel):
    """A live stream."""

    stream_id: Ulid
    host_id: UserId
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    status: Literal["live", "ended"]
    started_at: Timestamp
    ended_at: Timestamp = omitted()


class PinnedProduct(ResponseModel):
    """A product pinned on a live stream (a flash sale)."""

    stream_id: Ulid
    product_id: Ulid
    pin_id: Ulid
    seller_id: UserId
    title: str = Field(min_length=1, max_length=200)
    price_cents: int = Field(ge=1, description="What a buyer pays per unit.")
    list_price_cents: int = Field(ge=1)
    flash_price_cents: int | None = Field(ge=1)
    currency: Currency
    per_user_limit: int = Field(ge=1, le=10)
    pinned: int = Field(ge=0)
    remaining: int = Field(ge=0)
    sold_out: bool
    stock_shards: int = Field(
        ge=1, le=100, description="S stock shards the units are spread over (ceil(peak / 250), <= units)."
    )
    expected_peak_orders_per_second: int = Field(ge=1, le=100_000)
    ends_at: Timestamp | None
    status: Literal["active", "unpinned"]
    created_at: Timestamp


class ChatInfo(ResponseModel):
    """Where and how to read the room's chat."""

    slow_mode_seconds: int = Field(ge=0, le=SLOW_MODE_MAX_SECONDS)
    snapshot_url: Url = Field(description="The room's snapshot (CDN-servable).")


class StreamDetail(ResponseModel):
    """A stream with its pinned products and where to read its chat."""

    stream_id: Ulid
    host_id: UserId
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    status: Literal["live", "ended"]
    started_at: Timestamp
    pinned: list[PinnedProduct]
    chat: ChatInfo
    ended_at: Timestamp = omitted()


class StreamSettings(ResponseModel):
    """A room's chat settings."""

    slow_mode_seconds: int = Field(ge=0, le=SLOW_MODE_MAX_SECONDS)
    banned_words: list[str]
    room_cap: int = Field(ge=1, le=MAX_ROOM_CAP)
    shards: int = Field(
        ge=1,
        le=MAX_SHARDS,
        description="K, the room's chat shards (grows with `expected_peak_msgs_per_second`).",
    )


class ChatProduct(ResponseModel):
    """Only on `product_pinned` system messages."""

    product_id: Ulid
    title: str = Field(min_length=1, max_length=200)
    price_cents: int = Field(ge=1)
    currency: Currency
    remaining: int = Field(ge=0)
    ends_at: Timestamp | None


class ChatMessage(ResponseModel):
    """A message of a room's chat."""

    message_id: Ulid
    sender_id: UserId
    text: str = Field(max_length=300)
    sent_at: Timestamp
    type: Literal["chat", "product_pinned", "stream_ended"]
    product: ChatProduct = omitted()


class ChatPoll(ResponseModel):
    """Messages oldest to newest, and when to poll again."""

    items: list[ChatMessage] = Field(description="Oldest to newest.")
    next_cursor: str = Field(min_length=1, description="Pass it back to get only newer messages.")
    poll_after_ms: int = Field(ge=0, description="Wait this long before polling.")
    gap: bool = Field(description="True when the cursor was older than the snapshot: messages were skipped.")
