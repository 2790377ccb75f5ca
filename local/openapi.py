"""The API contract: builds the OpenAPI 3.1 document of every route the Chalice app serves.

``python -m local.openapi`` writes ``openapi.yaml``; ``python -m local.openapi --check`` exits 1
when the committed file differs from what the code generates (drift).

One table, :data:`OPERATIONS`, keyed by ``(METHOD, path)``, describes each operation: summary,
tag, request model (the domain's pydantic model, so the limits are the code's own), query and
header parameters, success responses with their body schemas, and the error statuses it may
answer. :func:`build_spec` joins that table with the app's routes (``app.routes``): a route
missing from the table, or a table entry without a route, raises :class:`SpecDriftError`.
Auth and the default success status are read from the route wrapper itself (``Api.route``'s
closure), so the spec cannot claim a public route is protected, or the reverse.

``GET /v1/openapi.json`` (``functions.apidocs``) calls :func:`build_spec` lazily at request time.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "openapi.yaml"
REF = "#/components/schemas/{model}"
Schema = dict[str, Any]

# --------------------------------------------------------------------------------------------
# Reusable schema fragments


def ref(name: str) -> Schema:
    """A ``$ref`` to a component schema."""
    return {"$ref": REF.format(model=name)}


def string(min_length: int | None = None, max_length: int | None = None, **extra: Any) -> Schema:
    """A string schema with optional length bounds."""
    out: Schema = {"type": "string"}
    if min_length is not None:
        out["minLength"] = min_length
    if max_length is not None:
        out["maxLength"] = max_length
    out.update(extra)
    return out


def nullable(schema: Schema) -> Schema:
    """``schema`` or ``null`` (JSON Schema 2020-12 style)."""
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None, **extra: Any) -> Schema:
    """A closed object: every key of ``required`` is required, ``optional`` keys may be absent."""
    props = {**required, **(optional or {})}
    out: Schema = {"type": "object", "properties": props, "required": list(required)}
    out["additionalProperties"] = False
    out.update(extra)
    return out


def page_of(item: Schema, *, cursor: bool = True, **extra: Any) -> Schema:
    """``{"items": [...], "next_cursor": str | null}``."""
    return obj(
        {"items": {"type": "array", "items": item}, "next_cursor": nullable(string(min_length=1))}
        if cursor
        else {"items": {"type": "array", "items": item}},
        **extra,
    )


ULID = string(
    min_length=26,
    max_length=26,
    pattern="^[0-9A-HJKMNP-TV-Z]{26}$",
    description="A ULID created by the server (26 Crockford base32 characters, time-ordered).",
    examples=["01JDQ3Z5XG8V0M6K2T1R9YB4CN"],
)
USER_ID = string(1, 128, description="A user id (the JWT `sub`).", examples=["demo-bob"])
TIMESTAMP = string(
    format="date-time",
    pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
    description="ISO-8601 UTC with milliseconds.",
    examples=["2026-11-28T01:02:03.456Z"],
)
ERROR_CODE_DOC = {
    400: "`validation_error` (malformed JSON, wrong types, unknown fields, limits), `invalid_cursor`"
    " (tampered, foreign or malformed cursor), `invalid_signature` (payment webhook), `invalid_code`"
    " (phone verification)",
    401: "`unauthorized`: missing, malformed, expired or badly signed bearer token; `account_deleted`:"
    " the account was deleted",
    403: "`forbidden`: the caller may not do this (blocks, host/seller/admin-only actions)",
    404: "`not_found`: unknown, or not visible to the caller",
    409: "`conflict`, `sold_out`, `limit_exceeded`, `stream_ended`, `pin_expired`,"
    " `insufficient_stock`, `already_pinned`",
    413: "`payload_too_large`: the body (or a declared upload size) is too large",
    422: "`idempotency_key_reused`, `rejected_by_moderation`, `unprocessable`",
    429: "`rate_limited`, with `Retry-After` (seconds)",
    503: "`unavailable`: a dependency is busy or unreachable; retry with backoff",
}
ERROR_RESPONSE_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "PayloadTooLarge",
    422: "Unprocessable",
    429: "RateLimited",
    503: "Unavailable",
}
ERROR_EXAMPLES = {
    400: {"code": "validation_error", "message": "recipient_ids: List should have at least 1 item"},
    401: {"code": "unauthorized", "message": "A bearer token is required."},
    403: {"code": "forbidden", "message": "You cannot message this user."},
    404: {"code": "not_found", "message": "Conversation not found."},
    409: {"code": "sold_out", "message": "This product is sold out."},
    413: {"code": "payload_too_large", "message": "The request body exceeds 65536 bytes."},
    422: {"code": "idempotency_key_reused", "message": "This Idempotency-Key was already used."},
    429: {"code": "rate_limited", "message": "Too many requests; retry later."},
    503: {"code": "unavailable", "message": "Something was busy; retry later."},
}

# Response bodies that no domain declares as a pydantic model (read from the handlers/logic).
PRESENCE = {
    "active": {
        "type": "boolean",
        "description": "Active now: an open WebSocket, or an authenticated request in the last 5 minutes. "
        "False (and `last_active_at` null) when either side turned `show_activity_status` off or a "
        "block separates them.",
    },
    "last_active_at": nullable(
        {"type": "integer", "minimum": 0, "description": "Epoch milliseconds of the last activity seen."}
    ),
}
# A deleted account stays in a direct conversation as ``{"user_id", "deleted": true}`` (issue 20).
DELETED_MEMBER = obj({"user_id": USER_ID, "deleted": {"const": True}})
MEMBER = {
    "anyOf": [
        obj(
            {"user_id": USER_ID, "role": string(enum=["admin", "member"])},
            {"last_read_message_id": nullable(ULID), **PRESENCE},
        ),
        DELETED_MEMBER,
    ]
}
REACTION = obj(
    {
        "emoji": string(1, 32, description="One emoji grapheme."),
        "count": {"type": "integer", "minimum": 1},
        "me": {"type": "boolean", "description": "Whether the caller reacted with it."},
    }
)
REACTIONS = {
    "type": "array",
    "maxItems": 30,
    "items": REACTION,
    "description": "Distinct emoji ordered by first use; exact counts.",
}
REPLY_TO = {
    "anyOf": [
        obj(
            {
                "message_id": ULID,
                "sender_id": USER_ID,
                "type": string(enum=["text", "attachment", "video_share"]),
            },
            {"text": string(max_length=100)},
        ),
        obj({"message_id": ULID, "deleted": {"const": True}}),
    ],
    "description": "The quoted message as it is now (`{message_id, deleted: true}` once unsent).",
}
VIDEO_CARD = obj(
    {"video_id": string(1, 128)},
    {
        "title": string(),
        "author_id": USER_ID,
        "thumbnail_url": string(format="uri"),
        "unavailable": {"const": True},
    },
    description="The shared video as the reader may see it now; `{video_id, unavailable: true}` once it"
    " became private or was deleted.",
)
HAND_WRITTEN: dict[str, Schema] = {
    "Error": obj(
        {
            "code": string(
                pattern="^[a-z][a-z0-9_]*$",
                description="Machine-readable snake_case code. "
                + "; ".join(f"{k}: {v}" for k, v in ERROR_CODE_DOC.items()),
                examples=["validation_error", "not_found"],
            ),
            "message": string(description="Human-readable text (never match on it)."),
        },
        description="Every error body.",
    ),
    "Health": obj({"status": {"const": "ok"}}),
    "UserSince": obj({"user_id": USER_ID, "since": TIMESTAMP}),
    "UserPage": page_of(ref("UserSince")),
    "PhoneVerification": obj(
        {
            "verification_id": string(description="Send it back with the code."),
            "expires_at": TIMESTAMP,
        }
    ),
    "FriendPage": page_of(obj({"user_id": USER_ID, "since": TIMESTAMP, **PRESENCE})),
    "ContactMatches": obj(
        {
            "items": {
                "type": "array",
                "items": obj({"phone": string(description="The number as uploaded."), "user_id": USER_ID}),
            }
        }
    ),
    "FollowSuggestions": obj(
        {
            "items": {
                "type": "array",
                "items": obj(
                    {
                        "user_id": USER_ID,
                        "reason": string(enum=["contact", "friends_of_friends"]),
                        "mutual_friends": {"type": "integer", "minimum": 0},
                    }
                ),
            }
        }
    ),
    "Member": MEMBER,
    "Conversation": obj(
        {
            "conversation_id": ULID,
            "kind": string(enum=["direct", "group"]),
            "title": nullable(string(1, 100)),
            "members": {"type": "array", "items": ref("Member")},
            "created_at": TIMESTAMP,
            "status": string(enum=["active", "request"]),
            "muted": {"type": "boolean"},
        },
        {
            "not_added": {
                "type": "array",
                "items": USER_ID,
                "description": "Group creation / member adds: users the caller may not message (not added).",
            }
        },
    ),
    "LastMessage": obj(
        {
            "message_id": ULID,
            "sender_id": USER_ID,
            "type": string(enum=["text", "attachment", "video_share", "deleted"]),
            "preview": string(max_length=100),
            "sent_at": TIMESTAMP,
        },
        {"reactions": REACTIONS},
    ),
    "InboxRow": obj(
        {
            "conversation_id": ULID,
            "kind": string(enum=["direct", "group"]),
            "title": nullable(string(1, 100)),
            "members": {
                "type": "array",
                "items": {
                    "anyOf": [
                        obj({"user_id": USER_ID, "role": string(enum=["admin", "member"])}),
                        DELETED_MEMBER,
                    ]
                },
            },
            "status": string(enum=["active", "request"]),
            "muted": {"type": "boolean"},
            "unread_count": {"type": "integer", "minimum": 0},
            "last_message": nullable(ref("LastMessage")),
            "updated_at": TIMESTAMP,
        }
    ),
    "InboxPage": page_of(ref("InboxRow")),
    "Attachment": obj(
        {
            "attachment_id": ULID,
            "content_type": string(enum=["image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4"]),
            "size_bytes": {"type": "integer", "minimum": 1},
        },
        {
            "url": string(format="uri", description="Presigned GET, valid at most 15 minutes."),
            "owner_id": {**USER_ID, "description": "A forwarded attachment: who uploaded it."},
        },
    ),
    "VideoCard": VIDEO_CARD,
    "Message": obj(
        {
            "message_id": ULID,
            "conversation_id": ULID,
            "sender_id": USER_ID,
            "type": string(enum=["text", "attachment", "video_share", "deleted"]),
            "text": nullable(string(max_length=2000)),
            "client_message_id": nullable(string(1, 255)),
            "sent_at": TIMESTAMP,
            "reactions": REACTIONS,
        },
        {
            "attachment": ref("Attachment"),
            "video": ref("VideoCard"),
            "reply_to": REPLY_TO,
            "forwarded": {"const": True},
        },
    ),
    "ForwardResult": obj(
        {
            "results": {
                "type": "array",
                "items": obj(
                    {"conversation_id": ULID, "status": string(enum=["sent", "request", "not_allowed"])},
                    {"message_id": ULID},
                ),
            }
        }
    ),
    "MessagePage": page_of(ref("Message")),
    "MuteState": obj({"conversation_id": ULID, "muted": {"type": "boolean"}}),
    "ReportCreated": obj({"report_id": ULID}),
    "AttachmentUpload": obj(
        {
            "attachment_id": ULID,
            "upload": obj(
                {
                    "url": string(format="uri"),
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                description="A presigned S3 POST: send `fields` plus the file as multipart/form-data.",
            ),
            "expires_at": TIMESTAMP,
        }
    ),
    "Video": obj(
        {
            "video_id": string(1, 128),
            "author_id": USER_ID,
            "title": string(max_length=500),
            "visibility": string(enum=["public", "friends", "private"]),
            "share_count": {"type": "integer", "minimum": 0},
        },
        {"thumbnail_url": string(format="uri")},
    ),
    "ShareResult": obj(
        {
            "share_id": ULID,
            "video_id": string(1, 128),
            "share_count": {"type": "integer", "minimum": 0},
            "results": {
                "type": "array",
                "items": {
                    "anyOf": [
                        obj(
                            {
                                "recipient_id": USER_ID,
                                "status": string(enum=["sent", "request", "not_allowed"]),
                            },
                            {"conversation_id": ULID, "message_id": ULID},
                        ),
                        obj(
                            {
                                "conversation_id": string(1, 128),
                                "status": string(enum=["sent", "request", "not_allowed"]),
                            },
                            {"message_id": ULID},
                        ),
                    ]
                },
            },
        }
    ),
    "ShareSuggestions": page_of(
        obj({"user_id": USER_ID, "last_interaction_at": nullable(TIMESTAMP)}),
        description="`next_cursor` is always null: one page of at most `limit` people.",
    ),
    "AccountDeletion": obj({"deletion_id": ULID, "status": string(enum=["pending", "done"])}),
    "AccountExport": obj(
        {"export_id": ULID, "status": string(enum=["pending", "ready"])},
        {"download_url": string(min_length=1), "expires_at": TIMESTAMP},
    ),
    "Stream": obj(
        {
            "stream_id": ULID,
            "host_id": USER_ID,
            "title": string(1, 120),
            "status": string(enum=["live", "ended"]),
            "started_at": TIMESTAMP,
        },
        {"ended_at": TIMESTAMP},
    ),
    "PinnedProduct": obj(
        {
            "stream_id": ULID,
            "product_id": ULID,
            "pin_id": ULID,
            "seller_id": USER_ID,
            "title": string(1, 200),
            "price_cents": {"type": "integer", "minimum": 1, "description": "What a buyer pays per unit."},
            "list_price_cents": {"type": "integer", "minimum": 1},
            "flash_price_cents": nullable({"type": "integer", "minimum": 1}),
            "currency": string(pattern="^[A-Z]{3}$"),
            "per_user_limit": {"type": "integer", "minimum": 1, "maximum": 10},
            "pinned": {"type": "integer", "minimum": 0},
            "remaining": {"type": "integer", "minimum": 0},
            "sold_out": {"type": "boolean"},
            "stock_shards": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
                "description": "S stock shards the units are spread over (ceil(peak / 250), <= units).",
            },
            "expected_peak_orders_per_second": {"type": "integer", "minimum": 1, "maximum": 100000},
            "ends_at": nullable(TIMESTAMP),
            "status": string(enum=["active", "unpinned"]),
            "created_at": TIMESTAMP,
        }
    ),
    "StreamDetail": obj(
        {
            "stream_id": ULID,
            "host_id": USER_ID,
            "title": string(1, 120),
            "status": string(enum=["live", "ended"]),
            "started_at": TIMESTAMP,
            "pinned": {"type": "array", "items": ref("PinnedProduct")},
            "chat": obj(
                {
                    "slow_mode_seconds": {"type": "integer", "minimum": 0, "maximum": 120},
                    "snapshot_url": string(format="uri", description="The room's snapshot (CDN-servable)."),
                }
            ),
        },
        {"ended_at": TIMESTAMP},
    ),
    "StreamSettings": obj(
        {
            "slow_mode_seconds": {"type": "integer", "minimum": 0, "maximum": 120},
            "banned_words": {"type": "array", "items": string(1, 50)},
            "room_cap": {"type": "integer", "minimum": 1, "maximum": 25000},
            "shards": {
                "type": "integer",
                "minimum": 1,
                "maximum": 50,
                "description": "K, the room's chat shards (grows with `expected_peak_msgs_per_second`).",
            },
        }
    ),
    "ChatMessage": obj(
        {
            "message_id": ULID,
            "sender_id": USER_ID,
            "text": string(max_length=300),
            "sent_at": TIMESTAMP,
            "type": string(enum=["chat", "product_pinned", "stream_ended"]),
        },
        {
            "product": obj(
                {
                    "product_id": ULID,
                    "title": string(1, 200),
                    "price_cents": {"type": "integer", "minimum": 1},
                    "currency": string(pattern="^[A-Z]{3}$"),
                    "remaining": {"type": "integer", "minimum": 0},
                    "ends_at": nullable(TIMESTAMP),
                },
                description="Only on `product_pinned` system messages.",
            )
        },
    ),
    "ChatPoll": obj(
        {
            "items": {"type": "array", "items": ref("ChatMessage"), "description": "Oldest to newest."},
            "next_cursor": string(min_length=1, description="Pass it back to get only newer messages."),
            "poll_after_ms": {
                "type": "integer",
                "minimum": 0,
                "description": "Wait this long before polling.",
            },
            "gap": {
                "type": "boolean",
                "description": "True when the cursor was older than the snapshot: messages were skipped.",
            },
        }
    ),
    "Product": obj(
        {
            "product_id": ULID,
            "seller_id": USER_ID,
            "title": string(1, 200),
            "price_cents": {"type": "integer", "minimum": 1, "maximum": 100_000_000},
            "currency": string(pattern="^[A-Z]{3}$"),
            "stock": {"type": "integer", "minimum": 0},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        }
    ),
    "Order": obj(
        {
            "order_id": ULID,
            "status": string(
                enum=[
                    "pending_payment",
                    "paid",
                    "payment_failed",
                    "expired",
                    "cancelled",
                    "refunded",
                    "refund_pending",
                ]
            ),
            "buyer_id": USER_ID,
            "seller_id": USER_ID,
            "stream_id": ULID,
            "product_id": ULID,
            "quantity": {"type": "integer", "minimum": 1, "maximum": 10},
            "unit_price_cents": {"type": "integer", "minimum": 1},
            "amount_cents": {"type": "integer", "minimum": 1},
            "currency": string(pattern="^[A-Z]{3}$"),
            "expires_at": TIMESTAMP,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "refunded_cents": {
                "type": "integer",
                "minimum": 0,
                "description": "What Stripe reports refunded so far (a partial refund keeps the status).",
            },
            "refund_reason": nullable(
                string(
                    enum=["late_payment", "order_cancelled"],
                    description="Set when checkout refunded on its own: the payment arrived after the "
                    "units were sold to someone else, or after the buyer cancelled.",
                )
            ),
            "disputed": {"type": "boolean", "description": "The buyer opened a chargeback."},
            "payment": obj(
                {
                    "provider": string(enum=["simulator", "stripe"]),
                    "payment_intent_id": string(min_length=1),
                    "client_secret": nullable(string(min_length=1)),
                },
                description="`client_secret` is shown to the buyer only (null for the seller).",
            ),
        }
    ),
    "OrderPage": page_of(ref("Order")),
    "WebhookEvent": {
        "type": "object",
        "description": "A Stripe Event object (https://docs.stripe.com/api/events/object), exactly as "
        "Stripe delivers it. Handled types: `payment_intent.succeeded`, `payment_intent.payment_failed`, "
        "`payment_intent.canceled` (`data.object` is a PaymentIntent whose `metadata.order_id` names "
        "the order), `charge.refunded` (a Charge), `charge.dispute.created` (a Dispute). Any other "
        "`type` is acknowledged and ignored.",
        "properties": {
            "id": string(1, 255, examples=["evt_1PqRsT2eZvKYlo2C0a1b2c3d"]),
            "object": {"const": "event"},
            "type": string(
                examples=[
                    "payment_intent.succeeded",
                    "payment_intent.payment_failed",
                    "payment_intent.canceled",
                    "charge.refunded",
                    "charge.dispute.created",
                ]
            ),
            "created": {"type": "integer"},
            "livemode": {"type": "boolean"},
            "api_version": nullable(string()),
            "data": {
                "type": "object",
                "properties": {
                    "object": {
                        "type": "object",
                        "description": "PaymentIntent: `id`, `object`, `amount`, `amount_received`, "
                        "`currency` (lowercase), `metadata.order_id`, `status`. Charge: `id`, "
                        "`payment_intent`, `amount`, `amount_refunded`, `refunded`. Dispute: `id`, "
                        "`payment_intent`, `reason`.",
                    }
                },
            },
        },
        "required": ["id", "type"],
    },
    "WebhookResult": obj(
        {
            "received": {"const": True},
            "result": string(
                enum=[
                    "paid",
                    "payment_failed",
                    "amount_mismatch",
                    "refunded",
                    "refund_pending",
                    "partially_refunded",
                    "refund_recorded",
                    "disputed",
                    "duplicate",
                    "ignored",
                ]
            ),
        }
    ),
}

# --------------------------------------------------------------------------------------------
# The operation table


@dataclass(frozen=True)
class Param:
    """A query or header parameter."""

    name: str
    location: str
    schema: Schema
    description: str
    required: bool = False
    example: Any = None


@dataclass(frozen=True)
class Resp:
    """A success response: a body schema (or none for 204) and optional headers."""

    description: str
    schema: Schema | None = None
    example: Any = None


@dataclass(frozen=True)
class Op:
    """One operation of the API."""

    summary: str
    tag: str
    responses: Mapping[int, Resp]
    errors: tuple[int, ...] = ()
    description: str = ""
    body: type[BaseModel] | None = None
    # Schema of a body with no pydantic model (the payment webhook reads raw bytes).
    raw_body: Schema | None = None
    # Rules the model enforces in validators that JSON Schema can still say (``allOf`` with the model).
    body_rules: Schema | None = None
    body_example: Any = None
    params: tuple[Param, ...] = ()
    idempotency_key: bool = False
    auth: bool = True
    aws: bool = True  # touches AWS (may answer 503 when a dependency is unavailable)
    # False for routes declared with ``Blueprint.route`` (non-JSON replies): only ``errors`` apply.
    wrapped: bool = True


def _models() -> dict[str, Any]:
    """Imported lazily: importing the domains is only needed when building the spec."""
    from functions.account import models as account
    from functions.checkout import models as checkout
    from functions.dm import models as dm
    from functions.live import models as live
    from functions.notify import models as notify
    from functions.realtime import models as realtime
    from functions.share import models as share
    from functions.social import models as social

    return {
        "social": social,
        "dm": dm,
        "share": share,
        "notify": notify,
        "realtime": realtime,
        "live": live,
        "checkout": checkout,
        "account": account,
    }


LIMIT = Param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    "Page size (1 to 100, default 20).",
    example=20,
)
CURSOR = Param(
    "cursor",
    "query",
    string(1, 2048, pattern="^[\\x21-\\x7E]+$"),
    "Opaque cursor from the previous page's `next_cursor` (visible ASCII; signed and bound to the "
    "caller and the listing: anything else is 400 `invalid_cursor`).",
)
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    string(1, 255, pattern="^[\\x21-\\x7E]([\\x20-\\x7E]*[\\x21-\\x7E])?$"),
    "Retry key (1 to 255 printable characters): the same key with the same body returns the original "
    "response without doing anything twice; with a different body → 422 `idempotency_key_reused`.",
    required=True,
    example="3f0c2a4e-8d7b-4b1e-9a51-0c1f5e2d7a10",
)
OPTIONAL_IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    IDEMPOTENCY_KEY.schema,
    "Optional retry key for creating a group (a direct conversation is idempotent by its pair and "
    "ignores it): the same key with the same body returns the original group; with a different "
    "body → 422 `idempotency_key_reused`.",
    example="6b1f0a52-4c1e-4e8b-8f0d-2a9c7d3e5b11",
)
STRIPE_SIGNATURE = Param(
    "Stripe-Signature",
    "header",
    string(1, 8192),
    "Exactly as Stripe sends it: `t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`, each `v1` an "
    'HMAC-SHA256 of `"<t>.<raw body>"` keyed by an endpoint signing secret (one per active secret '
    "during a rotation; any match is valid, `v0` is ignored). Verified with the official `stripe` "
    "SDK, 300 s tolerance. Missing, malformed (non-ASCII, a non-decimal `t`, a non-hex `v1`), stale, "
    "wrong-secret or tampered → 400 `invalid_signature`.",
    required=True,
    example="t=1795000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
)


def operations() -> dict[tuple[str, str], Op]:
    """The operation table, keyed by ``(METHOD, path)`` exactly as Chalice registers routes."""
    m = _models()
    social, dm, share, notify, live, checkout = (
        m["social"],
        m["dm"],
        m["share"],
        m["notify"],
        m["live"],
        m["checkout"],
    )
    from functions.dm.logic import ATTACHMENT_TYPES

    no_content = {204: Resp("Done (no body).")}
    conversation = "/v1/conversations/{conversation_id}"
    stream = "/v1/streams/{stream_id}"
    message_example = {
        "message_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN",
        "conversation_id": "01JDQ3Y1M2N3P4Q5R6S7T8V9WX",
        "sender_id": "demo-alice",
        "type": "text",
        "text": "See you at 8?",
        "client_message_id": "c-7f1e",
        "sent_at": "2026-11-28T01:02:03.456Z",
        "reactions": [{"emoji": "👍", "count": 2, "me": True}],
    }
    ops: dict[tuple[str, str], Op] = {
        # --- health and docs -------------------------------------------------------------
        ("GET", "/v1/health"): Op(
            "Liveness probe",
            "health",
            {200: Resp("The service is up.", ref("Health"), {"status": "ok"})},
            auth=False,
            aws=False,
        ),
        ("GET", "/v1/openapi.json"): Op(
            "This OpenAPI document (local and test stages only)",
            "docs",
            {200: Resp("The OpenAPI 3.1 document.", {"type": "object"})},
            errors=(404,),
            auth=False,
            aws=False,
        ),
        ("GET", "/v1/docs"): Op(
            "Interactive API reference (Swagger UI; local and test stages only)",
            "docs",
            {200: Resp("An HTML page.", None)},
            errors=(404,),
            auth=False,
            aws=False,
            wrapped=False,
        ),
        ("GET", "/v1/docs/assets/{name}"): Op(
            "A static asset of the API reference page (local and test stages only)",
            "docs",
            {200: Resp("The asset (JavaScript or CSS).", None)},
            errors=(404,),
            auth=False,
            aws=False,
            wrapped=False,
        ),
        # --- social -----------------------------------------------------------------------
        ("GET", "/v1/me"): Op(
            "The caller's profile: DM policy, push previews and exact follow counters",
            "social",
            {200: Resp("The caller.", ref("Me"))},
        ),
        ("PATCH", "/v1/me/settings"): Op(
            "Change the DM policy, push previews and/or activity status",
            "social",
            {200: Resp("The settings after the change.", ref("SettingsOut"))},
            description='`show_activity_status` (default true) off hides one\'s own "active now" and '
            "everyone else's from oneself (reciprocal).",
            body=social.SettingsPatch,
            body_rules={
                "description": "At least one of the settings, not null.",
                "anyOf": [
                    {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                    for name in ("dm_policy", "push_previews", "show_activity_status")
                ],
            },
            body_example={"dm_policy": "everyone"},
        ),
        ("PUT", "/v1/users/{user_id}/follow"): Op(
            "Follow a user (idempotent; mutual follows are friends)",
            "social",
            no_content,
            errors=(403, 409),
            description="Following yourself → 400; a block either way → 403 (without saying who blocked "
            "whom).",
        ),
        ("DELETE", "/v1/users/{user_id}/follow"): Op(
            "Unfollow a user (idempotent)", "social", no_content, errors=(409,)
        ),
        ("PUT", "/v1/users/{user_id}/block"): Op(
            "Block a user (idempotent); removes follows both ways", "social", no_content, errors=(409,)
        ),
        ("DELETE", "/v1/users/{user_id}/block"): Op(
            "Lift the caller's block (idempotent)", "social", no_content, errors=(409,)
        ),
        ("GET", "/v1/users/{user_id}/relationship"): Op(
            "How the caller and a user are connected",
            "social",
            {200: Resp("`blocked` says only whether the CALLER blocked them.", ref("Relationship"))},
        ),
        ("GET", "/v1/me/friends"): Op(
            'The caller\'s friends (mutual follows), newest first, with "active now"',
            "social",
            {200: Resp("One page.", ref("FriendPage"))},
            params=(LIMIT, CURSOR),
        ),
        ("GET", "/v1/me/following"): Op(
            "Whom the caller follows, newest first",
            "social",
            {200: Resp("One page.", ref("UserPage"))},
            params=(LIMIT, CURSOR),
        ),
        ("GET", "/v1/me/followers"): Op(
            "Who follows the caller, newest first",
            "social",
            {200: Resp("One page.", ref("UserPage"))},
            params=(LIMIT, CURSOR),
        ),
        ("GET", "/v1/me/blocks"): Op(
            "Whom the caller blocked, newest first",
            "social",
            {200: Resp("One page.", ref("UserPage"))},
            params=(LIMIT, CURSOR),
        ),
        ("PUT", "/v1/me/phone"): Op(
            "Text a 6-digit code to the caller's number (it is not theirs until verified)",
            "social",
            {202: Resp("A code was texted; verify it within 10 minutes.", ref("PhoneVerification"))},
            errors=(429,),
            description="The same 202 whether or not the number belongs to someone (no registration "
            "oracle). The number must be in international form (`+` and country code; spaces, dashes, "
            "brackets and `(0)` are fine) and valid. At most 5 codes per user and 5 per number per UTC "
            "day → 429 `rate_limited` with Retry-After. Only keyed hashes of the number and code are stored.",
            body=social.PhoneBody,
            body_rules={
                "description": "International form: `+`, the country code and the number.",
                "properties": {"phone": {"pattern": "^\\+"}},
            },
            body_example={"phone": "+44 20 7946 0000"},
        ),
        ("POST", "/v1/me/phone/verify"): Op(
            "Enter the texted code: the number becomes the caller's",
            "social",
            no_content,
            errors=(404, 429),
            description="Right code → 204, and the number is the caller's; a previous holder loses it "
            "silently (numbers get recycled). Wrong code → 400 `invalid_code`; unknown, expired (10 "
            "minutes) or someone else's verification → 404; the 5th wrong code ends it → 429.",
            body=social.PhoneVerifyBody,
            body_example={"verification_id": "01JDQ7X3K5V8M2N4P6R8T0W2Y4", "code": "123456"},
        ),
        ("DELETE", "/v1/me/phone"): Op("Opt out of phone discovery (idempotent)", "social", no_content),
        ("POST", "/v1/me/contacts/match"): Op(
            "Which numbers of a phone book belong to verified users (invalid numbers are skipped)",
            "social",
            {200: Resp("The matches.", ref("ContactMatches"))},
            errors=(429,),
            description="Numbers as people write them: national ones are read in `region` (ISO 3166-1 "
            "alpha-2), or without it in the region of the caller's verified number, else only "
            "international ones (`+…`) are read; international prefixes (`0044`, `011 44`) and "
            "`+44 (0)20…` are understood. At most 1,000 submitted numbers per user per day → 429. "
            "Numbers are not stored.",
            body=social.ContactsMatchBody,
            body_example={"phones": ["(212) 555-0123", "+44 (0)20 7946 0000"], "region": "US"},
        ),
        ("GET", "/v1/me/suggestions"): Op(
            "People to follow: contact matches first, then friends of friends",
            "social",
            {200: Resp("Suggestions.", ref("FollowSuggestions"))},
            params=(LIMIT,),
        ),
        # --- direct messages --------------------------------------------------------------
        ("POST", "/v1/conversations"): Op(
            "Create a group, or create/find the direct conversation with one user",
            "dm",
            {
                201: Resp("Created.", ref("Conversation")),
                200: Resp("The existing direct conversation of this pair.", ref("Conversation")),
            },
            errors=(403, 422),
            body=dm.CreateConversation,
            body_example={"member_ids": ["demo-bob"]},
            params=(OPTIONAL_IDEMPOTENCY_KEY,),
        ),
        ("GET", "/v1/conversations"): Op(
            "The caller's inbox or requests folder, most recent activity first",
            "dm",
            {200: Resp("One page.", ref("InboxPage"))},
            params=(
                Param(
                    "folder",
                    "query",
                    string(enum=["inbox", "requests"], default="inbox"),
                    "`inbox` (default) or `requests` (message requests).",
                    example="inbox",
                ),
                LIMIT,
                CURSOR,
            ),
        ),
        ("GET", conversation): Op(
            "One conversation with its members and read markers",
            "dm",
            {200: Resp("The conversation.", ref("Conversation"))},
            errors=(404,),
        ),
        ("DELETE", conversation): Op(
            "Leave a group / hide a direct conversation", "dm", no_content, errors=(404,)
        ),
        ("POST", conversation + "/accept"): Op(
            "Accept a message request",
            "dm",
            {200: Resp("The conversation, now active.", ref("Conversation"))},
            errors=(404,),
        ),
        ("PUT", conversation + "/mute"): Op(
            "Mute or unmute",
            "dm",
            {200: Resp("The new state.", ref("MuteState"))},
            errors=(404,),
            body=dm.SetMuted,
            body_example={"muted": True},
        ),
        ("POST", conversation + "/members"): Op(
            "The group's admin adds members",
            "dm",
            {200: Resp("The conversation; `not_added` lists refused users.", ref("Conversation"))},
            errors=(403, 404, 409),
            description="A direct conversation's members never change (→ 409 `conflict`).",
            body=dm.AddMembers,
            body_example={"user_ids": ["demo-carol"]},
        ),
        ("DELETE", conversation + "/members/{user_id}"): Op(
            "The admin removes a member, or a member leaves",
            "dm",
            no_content,
            errors=(403, 404, 409),
            description="A direct conversation's members never change (→ 409 `conflict`).",
        ),
        ("POST", conversation + "/messages"): Op(
            "Send a message (text, attachment or both)",
            "dm",
            {
                201: Resp("Sent.", ref("Message"), message_example),
                200: Resp("A retry: the original message for this `client_message_id`.", ref("Message")),
            },
            errors=(403, 404, 422, 429),
            description="At most 5 messages/s per sender (burst 10; shares count too) → 429 with "
            "Retry-After. A request conversation takes one message before it is accepted (→ 403). An "
            "`attachment_id` must be the sender's upload, not yet sent in another message (→ 400).",
            body=dm.SendMessage,
            body_rules={
                "description": "text, attachment_id, or both; text not blank.",
                "anyOf": [
                    {
                        "required": ["text"],
                        "properties": {"text": {"type": "string", "pattern": "\\S"}},
                    },
                    {"required": ["attachment_id"], "properties": {"attachment_id": {"type": "string"}}},
                ],
                "properties": {"text": {"anyOf": [{"type": "string", "pattern": "\\S"}, {"type": "null"}]}},
            },
            body_example={"client_message_id": "c-7f1e", "text": "See you at 8?"},
        ),
        ("GET", conversation + "/messages"): Op(
            "History newest first, or `?after=` sync oldest first",
            "dm",
            {200: Resp("One page.", ref("MessagePage"))},
            errors=(404,),
            params=(
                LIMIT,
                CURSOR,
                Param(
                    "after",
                    "query",
                    {k: v for k, v in ULID.items() if k != "description"},
                    "A message_id: return only newer messages, oldest first (incremental sync).",
                ),
            ),
        ),
        ("DELETE", conversation + "/messages/{message_id}"): Op(
            "Unsend one of the caller's messages (it stays as `type: deleted`)",
            "dm",
            no_content,
            errors=(403, 404),
        ),
        ("PUT", conversation + "/messages/{message_id}/reactions/{emoji}"): Op(
            "React to a message with one emoji (idempotent)",
            "dm",
            no_content,
            errors=(403, 404, 409),
            description="`{emoji}` is exactly one URL-encoded emoji grapheme (skin tones and ZWJ sequences "
            "are one); anything else → 400. At most 30 distinct emoji per message → 409 "
            "`too_many_reactions`; an unsent message → 409 `message_deleted`. Non-members → 404.",
        ),
        ("DELETE", conversation + "/messages/{message_id}/reactions/{emoji}"): Op(
            "Take back one's reaction (idempotent)",
            "dm",
            no_content,
            errors=(403, 404, 409),
            description="An unsent message → 409 `message_deleted`. Non-members → 404.",
        ),
        ("POST", "/v1/messages/forward"): Op(
            "Forward one message into 1 to 20 conversations",
            "dm",
            {201: Resp("Per-conversation results (a retry returns the original).", ref("ForwardResult"))},
            errors=(404, 422, 429),
            description="The caller must see the source (else 404). Each target follows the rules of a send "
            "from the caller (active membership, pending requests, blocks); targets it may not send to "
            "are `not_allowed`. Copies carry `forwarded: true` and the same attachment or video card. "
            "One forward counts as one send for the rate limit.",
            body=dm.ForwardMessage,
            body_rules={"properties": {"conversation_ids": {"uniqueItems": True}}},
            body_example={
                "source": {
                    "conversation_id": "01JDQ3Y1M2N3P4Q5R6S7T8V9WX",
                    "message_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN",
                },
                "conversation_ids": ["01JDQ41A2B3C4D5E6F7G8H9J0K"],
            },
            params=(IDEMPOTENCY_KEY,),
            idempotency_key=True,
        ),
        ("POST", conversation + "/read"): Op(
            "Move the caller's read marker forward",
            "dm",
            no_content,
            errors=(404, 409),
            body=dm.MarkRead,
            body_example={"message_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN"},
        ),
        ("POST", "/v1/reports"): Op(
            "Report a message, user, conversation or live-chat message",
            "dm",
            {201: Resp("Recorded (the reported content is copied as evidence).", ref("ReportCreated"))},
            errors=(404,),
            body=dm.CreateReport,
            body_rules={
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
                        "then": {"required": ["stream_id"], "properties": {"stream_id": {"type": "string"}}},
                    },
                ],
            },
            body_example={"target_type": "user", "target_id": "demo-dave", "reason": "spam"},
        ),
        ("POST", "/v1/attachments"): Op(
            "A presigned upload for one attachment",
            "dm",
            {201: Resp("Upload with the form fields within 5 minutes.", ref("AttachmentUpload"))},
            errors=(413, 429),
            description="image/jpeg, image/png, image/webp, image/gif ≤ 10 MB; video/mp4 ≤ 50 MB; other "
            "types → 400, larger → 413. At most 200 uploads and 2 GB per user per UTC day → 429 with "
            "Retry-After. An upload goes with one message; one not attached to a sent message within "
            "24 hours is deleted, and unsending a message deletes its attachment.",
            body=dm.CreateAttachment,
            body_rules={
                "properties": {"content_type": {"enum": sorted(ATTACHMENT_TYPES)}},
                "allOf": [
                    {
                        "if": {"properties": {"content_type": {"const": content_type}}},
                        "then": {"properties": {"size_bytes": {"maximum": limit}}},
                    }
                    for content_type, limit in sorted(ATTACHMENT_TYPES.items())
                ],
            },
            body_example={"content_type": "image/jpeg", "size_bytes": 204800},
        ),
        # --- share ------------------------------------------------------------------------
        ("GET", "/v1/videos/{video_id}"): Op(
            "A video the caller may see",
            "share",
            {200: Resp("The video.", ref("Video"))},
            errors=(404,),
        ),
        ("POST", "/v1/videos/{video_id}/shares"): Op(
            "Share a video to 1 to 20 people and conversations in one call",
            "share",
            {201: Resp("Per-recipient results (a retry returns the original).", ref("ShareResult"))},
            errors=(404, 422, 429),
            description="Per target a share is a DM from the caller: recipients it may not reach are "
            "`not_allowed` (never says why) — blocks, `no_one`, and the message-request limit (a "
            "stranger gets one message in their requests until they accept). It counts in the caller's "
            "DM rate limit (5/s, burst 10): while that is used up → 429 with Retry-After. "
            "`conversation_ids` (direct or group conversations the caller is an active member of) sit "
            "beside `recipient_ids`: 1 to 20 targets in total, one result per target.",
            body=share.ShareRequest,
            body_rules={
                "properties": {
                    "recipient_ids": {"uniqueItems": True, "items": {"minLength": 1, "maxLength": 128}},
                    "conversation_ids": {"uniqueItems": True, "items": {"minLength": 1, "maxLength": 128}},
                },
                "anyOf": [
                    {"required": ["recipient_ids"], "properties": {"recipient_ids": {"minItems": 1}}},
                    {"required": ["conversation_ids"], "properties": {"conversation_ids": {"minItems": 1}}},
                ],
            },
            body_example={"recipient_ids": ["demo-bob", "demo-carol"], "note": "look at this"},
            params=(IDEMPOTENCY_KEY,),
            idempotency_key=True,
        ),
        ("GET", "/v1/me/share-suggestions"): Op(
            "People to share with: recent interactions first, then friends",
            "share",
            {200: Resp("One page.", ref("ShareSuggestions"))},
            params=(LIMIT,),
        ),
        # --- notify -----------------------------------------------------------------------
        ("PUT", "/v1/me/devices"): Op(
            "Register a push token (at most 10 devices; the oldest is replaced)",
            "notify",
            {
                201: Resp("A new device.", ref("RegisteredDeviceOut")),
                200: Resp("The token was already registered.", ref("RegisteredDeviceOut")),
            },
            body=notify.RegisterDeviceRequest,
            body_example={"platform": "fcm", "token": "fcm-token-123"},
        ),
        ("GET", "/v1/me/devices"): Op(
            "The caller's devices, newest first", "notify", {200: Resp("All of them.", ref("DeviceList"))}
        ),
        ("DELETE", "/v1/me/devices/{device_id}"): Op(
            "Unregister one of the caller's devices", "notify", no_content, errors=(404,)
        ),
        # --- account ----------------------------------------------------------------------
        ("DELETE", "/v1/me"): Op(
            "Delete the caller's account (erased asynchronously)",
            "account",
            {
                202: Resp(
                    "Deletion recorded; from now on the tokens get 401 `account_deleted`.",
                    ref("AccountDeletion"),
                )
            },
            body=m["account"].DeleteAccount,
            body_example={"confirm": "DELETE"},
            description='Anything but `{"confirm": "DELETE"}` → 400. See docs/privacy.md for what '
            "is erased, kept or pseudonymised.",
        ),
        ("POST", "/v1/me/export"): Op(
            "Ask for an archive of the caller's data",
            "account",
            {202: Resp("Being built.", ref("AccountExport"))},
            errors=(429,),
            description="At most one per user per 24 h → 429 with Retry-After.",
        ),
        ("GET", "/v1/me/exports/{export_id}"): Op(
            "One of the caller's exports (a 24 h download URL once ready)",
            "account",
            {200: Resp("The export.", ref("AccountExport"))},
            errors=(404,),
        ),
        # --- realtime ---------------------------------------------------------------------
        ("GET", "/v1/realtime"): Op(
            "Where to open the WebSocket (append `?token=<jwt>`)",
            "realtime",
            {200: Resp("The WebSocket URL.", ref("RealtimeEndpoint"))},
            aws=True,
        ),
        # --- live -------------------------------------------------------------------------
        ("POST", "/v1/streams"): Op(
            "Start a live stream hosted by the caller",
            "live",
            {201: Resp("Live.", ref("Stream"))},
            body=live.StartStreamRequest,
            body_example={"title": "Friday flash sale"},
        ),
        ("GET", stream): Op(
            "A stream with its pinned products and where to read its chat",
            "live",
            {200: Resp("The stream.", ref("StreamDetail"))},
            errors=(404,),
        ),
        ("POST", stream + "/end"): Op(
            "End the stream (host only); chat becomes read-only",
            "live",
            {200: Resp("The ended stream.", ref("Stream"))},
            errors=(403, 404),
        ),
        ("PATCH", stream + "/settings"): Op(
            "Change slow mode, banned words, the room cap or the room's size (host only)",
            "live",
            {200: Resp("The settings after the change.", ref("StreamSettings"))},
            errors=(403, 404, 409),
            body=live.StreamSettingsRequest,
            body_rules={
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
                            {"type": "array", "items": string(1, 50, pattern="\\S")},
                            {"type": "null"},
                        ]
                    }
                },
            },
            body_example={"slow_mode_seconds": 5, "banned_words": ["spoiler"]},
            description="`expected_peak_msgs_per_second` re-sizes a live room to K = ceil(peak / 500) "
            "shards (at most 50). K only grows: a smaller peak, or an ended stream, leaves it as it is. "
            "Raise `room_cap` with it: each shard admits `room_cap / K` messages per second.",
        ),
        ("PUT", stream + "/moderators/{user_id}"): Op(
            "Appoint a moderator (host only)", "live", no_content, errors=(403, 404, 409)
        ),
        ("DELETE", stream + "/moderators/{user_id}"): Op(
            "Remove a moderator (host only)", "live", no_content, errors=(403, 404, 409)
        ),
        ("PUT", stream + "/bans/{user_id}"): Op(
            "Ban a user from the chat (host or moderator)", "live", no_content, errors=(403, 404, 409)
        ),
        ("DELETE", stream + "/bans/{user_id}"): Op(
            "Lift a ban (host or moderator)", "live", no_content, errors=(403, 404, 409)
        ),
        ("POST", stream + "/chat"): Op(
            "Post to the room's chat",
            "live",
            {
                201: Resp("Posted.", ref("ChatMessage")),
                200: Resp("A retry: the original message for this `client_message_id`.", ref("ChatMessage")),
            },
            errors=(403, 404, 409, 422, 429),
            description="Banned → 403; banned word → 422 `rejected_by_moderation`; slow mode or room cap → "
            "429 "
            "with Retry-After; ended stream → 409 `stream_ended`.",
            body=live.PostChatRequest,
            body_example={"client_message_id": "c-1", "text": "hello room"},
        ),
        ("GET", stream + "/chat"): Op(
            "Poll the room (last 50 messages, or only newer ones with a cursor)",
            "live",
            {200: Resp("Messages oldest to newest.", ref("ChatPoll"))},
            errors=(404,),
            params=(CURSOR,),
        ),
        ("DELETE", stream + "/chat/{message_id}"): Op(
            "Hide a chat message (host or moderator)", "live", no_content, errors=(403, 404)
        ),
        # --- checkout ---------------------------------------------------------------------
        ("POST", "/v1/products"): Op(
            "Create a product (the caller is its seller)",
            "checkout",
            {201: Resp("Created.", ref("Product"))},
            body=checkout.ProductCreate,
            body_rules={
                "properties": {
                    "title": {"pattern": "\\S"},
                    "currency": {"enum": sorted(checkout.ISO_4217)},
                }
            },
            body_example={"title": "Sneakers", "price_cents": 4999, "currency": "USD", "stock": 100},
        ),
        ("GET", "/v1/products/{product_id}"): Op(
            "A product", "checkout", {200: Resp("The product.", ref("Product"))}, errors=(404,)
        ),
        ("PATCH", "/v1/products/{product_id}"): Op(
            "Change title, price or stock (seller only)",
            "checkout",
            {200: Resp("The product after the change.", ref("Product"))},
            errors=(403, 404),
            body=checkout.ProductPatch,
            body_rules={
                "description": "At least one of title, price_cents, stock, not null; title not blank.",
                "anyOf": [
                    {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                    for name in ("title", "price_cents", "stock")
                ],
                "properties": {"title": {"anyOf": [{"type": "string", "pattern": "\\S"}, {"type": "null"}]}},
            },
            body_example={"price_cents": 3999},
        ),
        ("POST", stream + "/pins"): Op(
            "Pin one of the host's products on their live stream (flash sale)",
            "checkout",
            {201: Resp("The pin.", ref("PinnedProduct"))},
            errors=(403, 404, 409),
            body=checkout.PinCreate,
            body_example={
                "product_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN",
                "flash_stock": 100,
                "per_user_limit": 1,
                "expected_peak_orders_per_second": 2000,
            },
        ),
        ("DELETE", stream + "/pins/{product_id}"): Op(
            "Unpin a product; unsold units return to it", "checkout", no_content, errors=(403, 404, 409)
        ),
        ("POST", stream + "/orders"): Op(
            "Buy a pinned product: reserves stock for 10 minutes and creates a payment intent",
            "checkout",
            {201: Resp("The order (a retry with the same key returns the original).", ref("Order"))},
            errors=(404, 409, 422),
            description="The price is the pin's; any price field → 400. 409 `sold_out`, `limit_exceeded`, "
            "`stream_ended`, `pin_expired`. 503 `unavailable` with `Retry-After` when contention outlasts "
            "3 in-request retries (retry with the same Idempotency-Key).",
            body=checkout.OrderCreate,
            body_example={"product_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN", "quantity": 1},
            params=(IDEMPOTENCY_KEY,),
            idempotency_key=True,
        ),
        ("GET", "/v1/orders/{order_id}"): Op(
            "An order, for its buyer or seller",
            "checkout",
            {200: Resp("The order (past its hold it reads `expired`).", ref("Order"))},
            errors=(404,),
        ),
        ("GET", "/v1/me/orders"): Op(
            "The caller's orders as buyer or seller, newest first",
            "checkout",
            {200: Resp("One page.", ref("OrderPage"))},
            params=(
                Param(
                    "role",
                    "query",
                    string(enum=["buyer", "seller"], default="buyer"),
                    "`buyer` (default) or `seller`.",
                    example="buyer",
                ),
                LIMIT,
                CURSOR,
            ),
        ),
        ("POST", "/v1/orders/{order_id}/cancel"): Op(
            "The buyer cancels a pending order; its units go back on sale",
            "checkout",
            {200: Resp("The cancelled order.", ref("Order"))},
            errors=(403, 404, 409),
        ),
        ("POST", "/v1/orders/{order_id}/refund"): Op(
            "The seller refunds a paid (or refund_pending) order in full",
            "checkout",
            {200: Resp("The refunded order (a repeat returns it unchanged).", ref("Order"))},
            errors=(403, 404, 409),
            description="Only `paid` and `refund_pending` orders can be refunded (else 409 `conflict`). "
            "No stock goes back on sale.",
        ),
        ("POST", "/v1/payments/webhook"): Op(
            "Stripe webhook events (no JWT: authenticated by `Stripe-Signature`)",
            "checkout",
            {
                200: Resp(
                    "Acknowledged; each event id is applied once. Unknown types, unknown orders and "
                    "intents that are not the order's → `ignored` (nothing changes, Stripe stops retrying).",
                    ref("WebhookResult"),
                )
            },
            errors=(400, 413),
            raw_body=ref("WebhookEvent"),
            body_example={
                "id": "evt_1PqRsT2eZvKYlo2C0a1b2c3d",
                "object": "event",
                "api_version": "2024-06-20",
                "created": 1795000000,
                "livemode": False,
                "type": "payment_intent.succeeded",
                "data": {
                    "object": {
                        "id": "pi_3PqRsT2eZvKYlo2C1a2b3c4d",
                        "object": "payment_intent",
                        "amount": 999,
                        "amount_received": 999,
                        "currency": "eur",
                        "metadata": {"order_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN"},
                        "status": "succeeded",
                    }
                },
            },
            params=(STRIPE_SIGNATURE,),
            auth=False,
        ),
    }
    return ops


# --------------------------------------------------------------------------------------------
# Route introspection


class SpecDriftError(AssertionError):
    """The operation table and the app's routes disagree."""


@dataclass(frozen=True)
class RouteInfo:
    """What the app says about one route."""

    method: str
    path: str
    handler: str
    module: str
    auth: bool | None  # None when the route was not declared through ``Api.route``
    status: int | None
    # True when the handler is annotated ``-> None`` (always 204), False when it returns a body.
    returns_none: bool | None = None
    docstring: str = ""


def app_routes(chalice_app: Any) -> dict[tuple[str, str], RouteInfo]:
    """Every ``(METHOD, path)`` the Chalice app serves, with auth/status read off ``Api.route``."""
    found: dict[tuple[str, str], RouteInfo] = {}
    for path, methods in chalice_app.routes.items():
        for method, entry in methods.items():
            view = entry.view_function
            handler = getattr(view, "__wrapped__", view)
            nonlocals = inspect.getclosurevars(view).nonlocals if view.__closure__ else {}
            auth = nonlocals.get("auth")
            status = nonlocals.get("status")
            returns = inspect.signature(handler).return_annotation
            returns_none = None if returns is inspect.Signature.empty else returns in (None, "None")
            found[(method.upper(), path)] = RouteInfo(
                method=method.upper(),
                path=path,
                handler=handler.__name__,
                module=handler.__module__,
                auth=bool(auth) if auth is not None else None,
                status=int(status) if status is not None else None,
                returns_none=returns_none if auth is not None else None,
                docstring=inspect.getdoc(handler) or "",
            )
    return found


def drift(routes: Mapping[tuple[str, str], RouteInfo], ops: Mapping[tuple[str, str], Op]) -> list[str]:
    """Human-readable differences between the app's routes and the operation table."""
    problems = [
        f"route {m} {p} is served by the app but missing from the spec table"
        for m, p in routes
        if (m, p) not in ops
    ]
    problems += [
        f"spec table has {m} {p} but the app serves no such route" for m, p in ops if (m, p) not in routes
    ]
    for key, info in routes.items():
        op = ops.get(key)
        if op is None:
            continue
        if info.auth is not None and info.auth != op.auth:
            problems.append(
                f"{key[0]} {key[1]}: the route has auth={info.auth}, the spec says auth={op.auth}"
            )
        if info.returns_none is True and list(op.responses) != [204]:
            problems.append(
                f"{key[0]} {key[1]}: the handler returns None (204); the spec lists {sorted(op.responses)}"
            )
        if info.returns_none is False and info.status is not None and info.status not in op.responses:
            problems.append(
                f"{key[0]} {key[1]}: the route answers {info.status} by default; the spec lists "
                f"{sorted(op.responses)}"
            )
        # OpenAPI 3.1 allows a DELETE body; ``DELETE /v1/me`` needs one (its confirmation, issue 20).
        deletes_with_body = {("DELETE", "/v1/me")}
        has_body = op.body is not None or op.raw_body is not None
        if has_body and (key[0] == "GET" or (key[0] == "DELETE" and key not in deletes_with_body)):
            problems.append(f"{key[0]} {key[1]}: a request body on {key[0]}")
    return problems


# --------------------------------------------------------------------------------------------
# Building the document


def model_schema(model: type[BaseModel], mode: str = "validation") -> tuple[Schema, dict[str, Schema]]:
    """The model's JSON schema with ``$defs`` hoisted out (returned separately, for components)."""
    schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    defs = schema.pop("$defs", {})
    return schema, defs


def _error_response(status: int) -> Schema:
    out: Schema = {
        "description": ERROR_CODE_DOC[status],
        "content": {"application/json": {"schema": ref("Error"), "example": ERROR_EXAMPLES[status]}},
    }
    if status == 429:
        out["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    if status == 401:
        out["headers"] = {
            "WWW-Authenticate": {"description": "The bearer challenge.", "schema": {"type": "string"}}
        }
    return out


# Path ids: the characters a URL path segment carries verbatim; anything else → 400 (core/web.py).
PATH_ID_PATTERN = "^[A-Za-z0-9._~!$&'()*+,;=:@-]+$"


def _path_parameter(name: str) -> Schema:
    if name.endswith("_id"):
        return {
            "name": name,
            "in": "path",
            "required": True,
            "description": f"The {name.replace('_', ' ')} (1 to 128 of `A-Z a-z 0-9 -._~!$&'()*+,;=:@`).",
            "schema": string(1, 128, pattern=PATH_ID_PATTERN),
        }
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {name.replace('_', ' ')} (1 to 128 characters).",
        "schema": string(1, 128),
    }


def _parameter(param: Param) -> Schema:
    out: Schema = {
        "name": param.name,
        "in": param.location,
        "required": param.required,
        "description": param.description,
        "schema": param.schema,
    }
    if param.example is not None:
        out["example"] = param.example
    return out


def error_statuses(method: str, path: str, op: Op) -> list[int]:
    """Every error status ``op`` may answer: the wrapper's own plus the operation's."""
    statuses = set(op.errors)
    if not op.wrapped:
        return sorted(statuses)
    has_input = bool(re.search(r"{\w+}", path)) or bool(op.params) or op.body is not None or op.raw_body
    if has_input:
        statuses.add(400)  # path parameters, query, headers, body
    if op.body is not None:
        statuses.add(413)  # the wrapper refuses bodies over max_body
    if op.auth:
        statuses.add(401)
    if op.aws:
        statuses.add(503)
    return sorted(statuses)


def _success_response(method: str, path: str, status: int, resp: Resp) -> Schema:
    out: Schema = {"description": resp.description}
    if status == 204:
        return out
    if path == "/v1/docs":
        out["content"] = {"text/html": {"schema": {"type": "string"}}}
        return out
    if path.startswith("/v1/docs/"):
        out["content"] = {
            media: {"schema": {"type": "string"}} for media in ("text/css", "application/javascript")
        }
        return out
    content: Schema = {"schema": resp.schema}
    if resp.example is not None:
        content["example"] = resp.example
    out["content"] = {"application/json": content}
    return out


def _operation_id(info: RouteInfo | None, method: str, path: str) -> str:
    if info is not None:
        return info.handler
    return re.sub(r"\W+", "_", f"{method.lower()}_{path}").strip("_")


def build_spec(
    chalice_app: Any | None = None, ops: Mapping[tuple[str, str], Op] | None = None, *, strict: bool = True
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``chalice_app`` (default: ``app.app``).

    With ``strict`` (the default), any drift between the app's routes and the table raises
    :class:`SpecDriftError`; without it, only operations present in both are described.
    """
    if chalice_app is None:
        from app import app as chalice_app
    ops = ops if ops is not None else operations()
    routes = app_routes(chalice_app)
    problems = drift(routes, ops)
    if problems and strict:
        raise SpecDriftError("\n".join(problems))

    schemas: dict[str, Schema] = {}
    for name, model in response_models().items():
        schema, defs = model_schema(model, mode="serialization")
        schemas.update(defs)
        schemas[name] = schema
    schemas.update(copy.deepcopy(HAND_WRITTEN))

    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in sorted(ops.items(), key=lambda kv: (kv[0][1], _METHOD_ORDER.index(kv[0][0]))):
        info = routes.get((method, path))
        if info is None:
            continue
        operation: Schema = {
            "operationId": _operation_id(info, method, path),
            "summary": op.summary,
            "tags": [op.tag],
        }
        description = op.description or ""
        if description:
            operation["description"] = description
        params = [_path_parameter(n) for n in re.findall(r"{(\w+)}", path)]
        params += [_parameter(p) for p in op.params]
        if params:
            operation["parameters"] = params
        if op.body is not None:
            schema, defs = model_schema(op.body)
            schemas.update(defs)
            schemas[op.body.__name__] = schema
            body_schema = ref(op.body.__name__)
            if op.body_rules is not None:
                body_schema = {"allOf": [body_schema, op.body_rules]}
            media: Schema = {"schema": body_schema}
            if op.body_example is not None:
                media["example"] = op.body_example
            operation["requestBody"] = {"required": True, "content": {"application/json": media}}
        elif op.raw_body is not None:
            media = {"schema": op.raw_body}
            if op.body_example is not None:
                media["example"] = op.body_example
            operation["requestBody"] = {"required": True, "content": {"application/json": media}}
        responses: dict[str, Any] = {}
        for status in sorted(op.responses):
            responses[str(status)] = _success_response(method, path, status, op.responses[status])
        for status in error_statuses(method, path, op):
            responses[str(status)] = {"$ref": f"#/components/responses/{ERROR_RESPONSE_NAMES[status]}"}
        operation["responses"] = responses
        if not op.auth:
            operation["security"] = []
        paths.setdefault(path, {})[method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "socialvideo API",
            "version": "1.0.0",
            "summary": "The social layer of a short-video app: graph, DMs, shares, live chat, in-stream "
            "purchase.",
            "description": (
                "JSON in and out. IDs the server creates are ULIDs; timestamps are ISO-8601 UTC with "
                'milliseconds. Every error is `{"code", "message"}`. Lists take `?limit=` (1 to 100, '
                'default 20) and `?cursor=` and reply `{"items", "next_cursor"}`. Every route needs '
                "`Authorization: Bearer <JWT>` except the health check, the payment webhook and these "
                "docs. Locally, `make -s token USER=demo-alice` prints a token.\n\n"
                "Generated by `python -m local.openapi` from the Chalice routes and the domains' "
                "pydantic models; do not edit `openapi.yaml` by hand."
            ),
        },
        "servers": [{"url": "/", "description": "This server (e.g. `make run` on http://127.0.0.1:8000)."}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "RS256 access token (Cognito in AWS, a local key pair in `make run`); "
                    "the caller is its `sub`.",
                }
            },
            "responses": {ERROR_RESPONSE_NAMES[s]: _error_response(s) for s in sorted(ERROR_RESPONSE_NAMES)},
            "schemas": dict(sorted(schemas.items())),
        },
    }


_METHOD_ORDER = ["GET", "PUT", "POST", "PATCH", "DELETE"]
TAGS = {
    "health": "Liveness.",
    "social": "Follows, friends, blocks, DM policy, finding friends from contacts.",
    "dm": "Conversations, messages, read state, requests, attachments, reports.",
    "share": "Videos and sharing them to friends in one call.",
    "notify": "Push devices.",
    "realtime": "WebSocket discovery.",
    "live": "Live streams and their chat.",
    "checkout": "Products, pinned flash sales, orders and payments.",
    "docs": "This reference (local and test stages only).",
}


def response_models() -> dict[str, type[BaseModel]]:
    """Response bodies the domains declare as pydantic models (named by class)."""
    m = _models()
    found: list[type[BaseModel]] = [
        m["social"].Me,
        m["social"].SettingsOut,
        m["social"].Relationship,
        m["notify"].DeviceOut,
        m["notify"].RegisteredDeviceOut,
        m["notify"].DeviceList,
        m["realtime"].RealtimeEndpoint,
    ]
    return {model.__name__: model for model in found}


def request_models(ops: Mapping[tuple[str, str], Op] | None = None) -> dict[str, type[BaseModel]]:
    """Every request model the table uses, by component name."""
    table = ops if ops is not None else operations()
    return {op.body.__name__: op.body for op in table.values() if op.body is not None}


# --------------------------------------------------------------------------------------------
# Serialisation and the CLI


def to_yaml(spec: Mapping[str, Any]) -> str:
    """Stable YAML text of the document (key order kept, long lines not folded)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    header = "# Generated by `python -m local.openapi` from the code. Do not edit by hand.\n"
    return header + yaml.dump(
        dict(spec),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100_000,
        default_flow_style=False,
    )


def load_yaml(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The committed document."""
    import yaml

    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def spec_json() -> str:
    """The document as compact JSON (cached: routes do not change while a process runs)."""
    return json.dumps(build_spec(), separators=(",", ":"))


def iter_examples(spec: Mapping[str, Any]) -> Iterable[tuple[str, Schema, Any]]:
    """``(where, schema, example)`` for every example in the document's operations."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            for param in operation.get("parameters", []):
                if "example" in param:
                    yield f"{where} parameter {param['name']}", param["schema"], param["example"]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "example" in body:
                yield f"{where} request body", body["schema"], body["example"]
            for status, response in operation["responses"].items():
                media = response.get("content", {}).get("application/json", {})
                if "example" in media:
                    yield f"{where} {status} response", media["schema"], media["example"]


def main(argv: list[str] | None = None, out: Callable[[str], object] = print) -> int:
    """``python -m local.openapi [--check] [--output PATH]``."""
    parser = argparse.ArgumentParser(description="Generate (or check) openapi.yaml from the code.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the code")
    parser.add_argument("--output", type=Path, default=SPEC_PATH)
    args = parser.parse_args(argv)
    text = to_yaml(build_spec())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            out(f"{args.output} is out of date: run `python -m local.openapi` and commit the result.")
            return 1
        out(f"{args.output} matches the code.")
        return 0
    args.output.write_text(text, encoding="utf-8")
    out(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
