"""HTTP routes of the dm domain: parse, call one logic function, shape the reply.

The routes are declared at import; the domain's logic, dal and models (pydantic, boto3) are
imported inside the handlers, on first use, so ``import app`` stays cheap (cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.core.clock import now_ms
from chalicelib.core.ids import new_ulid
from chalicelib.core.observability import record_event
from chalicelib.core.routedoc import CURSOR, IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_SCHEMA, LIMIT, Param
from chalicelib.core.settings import get_settings
from chalicelib.core.web import Api, ApiRequest, Reply

if TYPE_CHECKING:
    from chalicelib.dm import logic

bp = Blueprint(__name__)
api = Api(bp)

CONVERSATION = "/v1/conversations/{conversation_id}"
FOLDER = Param(
    "folder",
    "query",
    {"type": "string", "enum": ["inbox", "requests"], "default": "inbox"},
    "`inbox` (default) or `requests` (message requests).",
    example="inbox",
)
AFTER = Param(
    "after",
    "query",
    {"type": "string", "minLength": 26, "maxLength": 26, "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$",
     "examples": ["01JDQ3Z5XG8V0M6K2T1R9YB4CN"]},
    "A message_id: return only newer messages, oldest first (incremental sync).",
)  # fmt: skip
OPTIONAL_IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    IDEMPOTENCY_KEY_SCHEMA,
    "Optional retry key for creating a group (a direct conversation is idempotent by its pair and "
    "ignores it): the same key with the same body returns the original group; with a different "
    "body → 422 `idempotency_key_reused`.",
    example="6b1f0a52-4c1e-4e8b-8f0d-2a9c7d3e5b11",
)


def _clock() -> logic.Clock:
    from chalicelib.dm import logic

    # Monotonic ULIDs within the container keep a sender's messages in send order.
    return logic.Clock(now_ms=now_ms, new_id=lambda _ms: new_ulid())


def find_chat_message(stream_id: str, message_id: str) -> dict[str, Any] | None:
    """The live domain's chat-message lookup (reports of stream messages)."""
    from chalicelib.live.lookup import find_chat_message as find

    return find(stream_id, message_id)


@api.route(
    "/v1/conversations",
    methods=["POST"],
    status=201,
    response="chalicelib.dm.models:Conversation",
    replies={201: "Created.", 200: "The existing direct conversation of this pair."},
    errors=(403, 422),
    body="chalicelib.dm.models:CreateConversation",
    example={"member_ids": ["demo-bob"]},
    params=(OPTIONAL_IDEMPOTENCY_KEY,),
)
def dm_create_conversation(request: ApiRequest) -> Reply:
    """Create a group, or create/find the direct conversation with one user"""
    from chalicelib.dm import dal, logic
    from chalicelib.dm.models import CreateConversation
    from chalicelib.social.graph import graph

    view, created = logic.create_conversation(
        dal.store(),
        graph(),
        _clock(),
        request.user_id,
        request.body(CreateConversation),
        request.optional_idempotency_key(),
    )
    if created:
        record_event("conversation_created")
    return Reply(view, status=201 if created else 200)


@api.route(
    "/v1/conversations",
    methods=["GET"],
    response="chalicelib.dm.models:InboxPage",
    replies={200: "One page."},
    params=(FOLDER, LIMIT, CURSOR),
)
def dm_list_conversations(request: ApiRequest) -> dict[str, Any]:
    """The caller's inbox or requests folder, most recent activity first"""
    from chalicelib.dm import dal, logic

    page = request.page()
    folder = request.query("folder") or "inbox"
    return logic.inbox(
        dal.store(), get_settings().cursor_secret, request.user_id, folder, page.limit, page.cursor
    )


@api.route(
    CONVERSATION,
    methods=["GET"],
    response="chalicelib.dm.models:Conversation",
    replies={200: "The conversation."},
    errors=(404,),
)
def dm_get_conversation(request: ApiRequest, conversation_id: str) -> dict[str, Any]:
    """One conversation with its members and read markers"""
    from chalicelib.dm import dal, logic
    from chalicelib.social.graph import graph

    return logic.get_conversation(dal.store(), request.user_id, conversation_id, graph(), now_ms())


@api.route(
    CONVERSATION,
    methods=["DELETE"],
    errors=(404,),
)
def dm_leave_conversation(request: ApiRequest, conversation_id: str) -> None:
    """Leave a group / hide a direct conversation"""
    from chalicelib.dm import dal, logic

    logic.leave_conversation(dal.store(), request.user_id, conversation_id)


@api.route(
    CONVERSATION + "/accept",
    methods=["POST"],
    response="chalicelib.dm.models:Conversation",
    replies={200: "The conversation, now active."},
    errors=(404,),
)
def dm_accept_request(request: ApiRequest, conversation_id: str) -> dict[str, Any]:
    """Accept a message request"""
    from chalicelib.dm import dal, logic

    return logic.accept_request(dal.store(), request.user_id, conversation_id)


@api.route(
    CONVERSATION + "/mute",
    methods=["PUT"],
    response="chalicelib.dm.models:MuteState",
    replies={200: "The new state."},
    errors=(404,),
    body="chalicelib.dm.models:SetMuted",
    example={"muted": True},
)
def dm_set_muted(request: ApiRequest, conversation_id: str) -> dict[str, Any]:
    """Mute or unmute"""
    from chalicelib.dm import dal, logic
    from chalicelib.dm.models import SetMuted

    body = request.body(SetMuted)
    return logic.set_muted(dal.store(), request.user_id, conversation_id, body.muted)


@api.route(
    CONVERSATION + "/members",
    methods=["POST"],
    response="chalicelib.dm.models:Conversation",
    replies={200: "The conversation; `not_added` lists refused users."},
    errors=(403, 404, 409),
    body="chalicelib.dm.models:AddMembers",
    example={"user_ids": ["demo-carol"]},
)
def dm_add_members(request: ApiRequest, conversation_id: str) -> dict[str, Any]:
    """The group's admin adds members

    A direct conversation's members never change (→ 409 `conflict`).
    """
    from chalicelib.dm import dal, logic
    from chalicelib.dm.models import AddMembers
    from chalicelib.social.graph import graph

    body = request.body(AddMembers)
    return logic.add_members(dal.store(), graph(), _clock(), request.user_id, conversation_id, body.user_ids)


@api.route(
    CONVERSATION + "/members/{user_id}",
    methods=["DELETE"],
    errors=(403, 404, 409),
)
def dm_remove_member(request: ApiRequest, conversation_id: str, user_id: str) -> None:
    """The admin removes a member, or a member leaves

    A direct conversation's members never change (→ 409 `conflict`).
    """
    from chalicelib.dm import dal, logic

    logic.remove_member(dal.store(), request.user_id, conversation_id, user_id)


@api.route(
    CONVERSATION + "/messages",
    methods=["POST"],
    status=201,
    response="chalicelib.dm.models:Message",
    replies={201: "Sent.", 200: "A retry: the original message for this `client_message_id`."},
    errors=(403, 404, 422, 429),
    body="chalicelib.dm.models:SendMessage",
    example={"client_message_id": "c-7f1e", "text": "See you at 8?"},
    response_example={
        "message_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN",
        "conversation_id": "01JDQ3Y1M2N3P4Q5R6S7T8V9WX",
        "sender_id": "demo-alice",
        "type": "text",
        "text": "See you at 8?",
        "client_message_id": "c-7f1e",
        "sent_at": "2026-11-28T01:02:03.456Z",
        "reactions": [{"emoji": "👍", "count": 2, "me": True}],
    },
)
def dm_send_message(request: ApiRequest, conversation_id: str) -> Reply:
    """Send a message (text, attachment or both)

    At most 5 messages/s per sender (burst 10; shares count too) → 429 with Retry-After. A request
    conversation takes one message before it is accepted (→ 403). An `attachment_id` must be the
    sender's upload, not yet sent in another message (→ 400).
    """
    from chalicelib.dm import dal, logic
    from chalicelib.dm.models import SendMessage

    view, created = logic.send_message(
        dal.store(), dal.media(), _clock(), request.user_id, conversation_id, request.body(SendMessage)
    )
    if created:
        record_event("message_sent")
    return Reply(view, status=201 if created else 200)


@api.route(
    CONVERSATION + "/messages",
    methods=["GET"],
    response="chalicelib.dm.models:MessagePage",
    replies={200: "One page."},
    errors=(404,),
    params=(LIMIT, CURSOR, AFTER),
)
def dm_list_messages(request: ApiRequest, conversation_id: str) -> dict[str, Any]:
    """History newest first, or `?after=` sync oldest first"""
    from chalicelib.dm import dal, logic, wiring

    page = request.page()
    return logic.list_messages(
        dal.store(),
        dal.media(),
        wiring.video_cards(),
        get_settings().cursor_secret,
        request.user_id,
        conversation_id,
        page.limit,
        page.cursor,
        request.query("after"),
    )


@api.route(
    CONVERSATION + "/messages/{message_id}",
    methods=["DELETE"],
    errors=(403, 404),
)
def dm_unsend_message(request: ApiRequest, conversation_id: str, message_id: str) -> None:
    """Unsend one of the caller's messages (it stays as `type: deleted`)"""
    from chalicelib.dm import dal, logic

    logic.unsend(dal.store(), request.user_id, conversation_id, message_id, now_ms())


@api.route(
    CONVERSATION + "/messages/{message_id}/reactions/{emoji}",
    methods=["PUT"],
    status=204,
    errors=(403, 404, 409),
)
def dm_add_reaction(request: ApiRequest, conversation_id: str, message_id: str, emoji: str) -> None:
    """React to a message with one emoji (idempotent)

    `{emoji}` is exactly one URL-encoded emoji grapheme (skin tones and ZWJ sequences are one);
    anything else → 400. At most 30 distinct emoji per message → 409 `too_many_reactions`; an unsent
    message → 409 `message_deleted`. Non-members → 404.
    """
    from chalicelib.dm import dal, reactions

    reactions.react(dal.store(), request.user_id, conversation_id, message_id, emoji, now_ms())
    record_event("reaction_added")


@api.route(
    CONVERSATION + "/messages/{message_id}/reactions/{emoji}",
    methods=["DELETE"],
    status=204,
    errors=(403, 404, 409),
)
def dm_remove_reaction(request: ApiRequest, conversation_id: str, message_id: str, emoji: str) -> None:
    """Take back one's reaction (idempotent)

    An unsent message → 409 `message_deleted`. Non-members → 404.
    """
    from chalicelib.dm import dal, reactions

    reactions.unreact(dal.store(), request.user_id, conversation_id, message_id, emoji)


@api.route(
    CONVERSATION + "/read",
    methods=["POST"],
    errors=(404, 409),
    body="chalicelib.dm.models:MarkRead",
    example={"message_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN"},
)
def dm_mark_read(request: ApiRequest, conversation_id: str) -> None:
    """Move the caller's read marker forward"""
    from chalicelib.dm import dal, logic
    from chalicelib.dm.models import MarkRead

    body = request.body(MarkRead)
    logic.mark_read(dal.store(), request.user_id, conversation_id, body.message_id, now_ms())


@api.route(
    "/v1/messages/forward",
    methods=["POST"],
    status=201,
    response="chalicelib.dm.models:ForwardResult",
    replies={201: "Per-conversation results (a retry returns the original)."},
    errors=(404, 422, 429),
    body="chalicelib.dm.models:ForwardMessage",
    example={
        "source": {
            "conversation_id": "01JDQ3Y1M2N3P4Q5R6S7T8V9WX",
            "message_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN",
        },
        "conversation_ids": ["01JDQ41A2B3C4D5E6F7G8H9J0K"],
    },
    params=(IDEMPOTENCY_KEY,),
)
def dm_forward_message(request: ApiRequest) -> Reply:
    """Forward one message into 1 to 20 conversations

    The caller must see the source (else 404). Each target follows the rules of a send from the
    caller (active membership, pending requests, blocks); targets it may not send to are
    `not_allowed`. Copies carry `forwarded: true` and the same attachment or video card. One forward
    counts as one send for the rate limit.
    """
    from chalicelib.dm import forward_dal, forwarding
    from chalicelib.dm.models import ForwardMessage

    idem_key = request.idempotency_key()
    body = request.body(ForwardMessage)
    result = forwarding.forward(forward_dal.forward_store(), _clock(), request.user_id, body, idem_key)
    record_event("message_forwarded")
    return Reply(result, status=201)


@api.route(
    "/v1/reports",
    methods=["POST"],
    status=201,
    response="chalicelib.dm.models:ReportCreated",
    replies={201: "Recorded (the reported content is copied as evidence)."},
    errors=(404,),
    body="chalicelib.dm.models:CreateReport",
    example={"target_type": "user", "target_id": "demo-dave", "reason": "spam"},
)
def dm_create_report(request: ApiRequest) -> dict[str, Any]:
    """Report a message, user, conversation or live-chat message"""
    from chalicelib.dm import dal, reports
    from chalicelib.dm.models import CreateReport

    result = reports.create_report(
        dal.store(),
        dal.report_store(),
        find_chat_message,
        _clock(),
        request.user_id,
        request.body(CreateReport),
    )
    record_event("report_created")
    return result


@api.route(
    "/v1/attachments",
    methods=["POST"],
    status=201,
    response="chalicelib.dm.models:AttachmentUpload",
    replies={201: "Upload with the form fields within 5 minutes."},
    errors=(413, 429),
    body="chalicelib.dm.models:CreateAttachment",
    example={"content_type": "image/jpeg", "size_bytes": 204800},
)
def dm_create_attachment(request: ApiRequest) -> dict[str, Any]:
    """A presigned upload for one attachment

    image/jpeg, image/png, image/webp, image/gif ≤ 10 MB; video/mp4 ≤ 50 MB; other types → 400,
    larger → 413. At most 200 uploads and 2 GB per user per UTC day → 429 with Retry-After. An
    upload goes with one message; one not attached to a sent message within 24 hours is deleted, and
    unsending a message deletes its attachment.
    """
    from chalicelib.dm import dal, uploads
    from chalicelib.dm.models import CreateAttachment

    return uploads.create_attachment(
        dal.media(), dal.uploads(), _clock(), request.user_id, request.body(CreateAttachment)
    )
