"""HTTP routes of the dm domain: parse, call one logic function, shape the reply.

The routes are declared at import; the domain's logic, dal and models (pydantic, boto3) are
imported inside the handlers, on first use, so ``import app`` stays cheap (cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from functions.core.clock import now_ms
from functions.core.ids import new_ulid
from functions.core.observability import record_event
from functions.core.settings import get_settings
from functions.core.web import Api, ApiRequest, Reply

if TYPE_CHECKING:
    from functions.dm import logic

bp = Blueprint(__name__)
api = Api(bp)

CONVERSATION = "/v1/conversations/{conversation_id}"


def _clock() -> logic.Clock:
    from functions.dm import logic

    # Monotonic ULIDs within the container keep a sender's messages in send order.
    return logic.Clock(now_ms=now_ms, new_id=lambda _ms: new_ulid())


def find_chat_message(stream_id: str, message_id: str) -> dict[str, Any] | None:
    """The live domain's chat-message lookup (reports of stream messages)."""
    from functions.live.lookup import find_chat_message as find

    return find(stream_id, message_id)


@api.route("/v1/conversations", methods=["POST"], status=201)
def dm_create_conversation(request: ApiRequest) -> Reply:
    """Create a group, or create/find the caller's direct conversation with one user."""
    from functions.dm import dal, logic
    from functions.dm.models import CreateConversation
    from functions.social.graph import graph

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


@api.route("/v1/conversations", methods=["GET"])
def dm_list_conversations(request: ApiRequest) -> dict[str, Any]:
    """The caller's inbox or requests folder, most recent activity first."""
    from functions.dm import dal, logic

    page = request.page()
    folder = request.query("folder") or "inbox"
    return logic.inbox(
        dal.store(), get_settings().cursor_secret, request.user_id, folder, page.limit, page.cursor
    )


@api.route(CONVERSATION, methods=["GET"])
def dm_get_conversation(request: ApiRequest, conversation_id: str) -> dict[str, Any]:
    """One conversation with members, their read markers and "active now"."""
    from functions.dm import dal, logic
    from functions.social.graph import graph

    return logic.get_conversation(dal.store(), request.user_id, conversation_id, graph(), now_ms())


@api.route(CONVERSATION, methods=["DELETE"])
def dm_leave_conversation(request: ApiRequest, conversation_id: str) -> None:
    """Leave a group / hide a direct conversation."""
    from functions.dm import dal, logic

    logic.leave_conversation(dal.store(), request.user_id, conversation_id)


@api.route(CONVERSATION + "/accept", methods=["POST"])
def dm_accept_request(request: ApiRequest, conversation_id: str) -> dict[str, Any]:
    """Accept a message request."""
    from functions.dm import dal, logic

    return logic.accept_request(dal.store(), request.user_id, conversation_id)


@api.route(CONVERSATION + "/mute", methods=["PUT"])
def dm_set_muted(request: ApiRequest, conversation_id: str) -> dict[str, Any]:
    """Mute or unmute."""
    from functions.dm import dal, logic
    from functions.dm.models import SetMuted

    body = request.body(SetMuted)
    return logic.set_muted(dal.store(), request.user_id, conversation_id, body.muted)


@api.route(CONVERSATION + "/members", methods=["POST"])
def dm_add_members(request: ApiRequest, conversation_id: str) -> dict[str, Any]:
    """The admin adds members to a group."""
    from functions.dm import dal, logic
    from functions.dm.models import AddMembers
    from functions.social.graph import graph

    body = request.body(AddMembers)
    return logic.add_members(dal.store(), graph(), _clock(), request.user_id, conversation_id, body.user_ids)


@api.route(CONVERSATION + "/members/{user_id}", methods=["DELETE"])
def dm_remove_member(request: ApiRequest, conversation_id: str, user_id: str) -> None:
    """The admin removes a member, or a member leaves."""
    from functions.dm import dal, logic

    logic.remove_member(dal.store(), request.user_id, conversation_id, user_id)


@api.route(CONVERSATION + "/messages", methods=["POST"], status=201)
def dm_send_message(request: ApiRequest, conversation_id: str) -> Reply:
    """Send a message (201), or replay the original for a known ``client_message_id`` (200)."""
    from functions.dm import dal, logic
    from functions.dm.models import SendMessage

    view, created = logic.send_message(
        dal.store(), dal.media(), _clock(), request.user_id, conversation_id, request.body(SendMessage)
    )
    if created:
        record_event("message_sent")
    return Reply(view, status=201 if created else 200)


@api.route(CONVERSATION + "/messages", methods=["GET"])
def dm_list_messages(request: ApiRequest, conversation_id: str) -> dict[str, Any]:
    """History newest first, or ``?after=`` sync oldest first."""
    from functions.dm import dal, logic, wiring

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


@api.route(CONVERSATION + "/messages/{message_id}", methods=["DELETE"])
def dm_unsend_message(request: ApiRequest, conversation_id: str, message_id: str) -> None:
    """Unsend one of the caller's messages."""
    from functions.dm import dal, logic

    logic.unsend(dal.store(), request.user_id, conversation_id, message_id)


@api.route(CONVERSATION + "/messages/{message_id}/reactions/{emoji}", methods=["PUT"], status=204)
def dm_add_reaction(request: ApiRequest, conversation_id: str, message_id: str, emoji: str) -> None:
    """React to a message with one emoji (idempotent)."""
    from functions.dm import dal, reactions

    reactions.react(dal.store(), request.user_id, conversation_id, message_id, emoji, now_ms())
    record_event("reaction_added")


@api.route(CONVERSATION + "/messages/{message_id}/reactions/{emoji}", methods=["DELETE"], status=204)
def dm_remove_reaction(request: ApiRequest, conversation_id: str, message_id: str, emoji: str) -> None:
    """Take back one's reaction (idempotent)."""
    from functions.dm import dal, reactions

    reactions.unreact(dal.store(), request.user_id, conversation_id, message_id, emoji)


@api.route(CONVERSATION + "/read", methods=["POST"])
def dm_mark_read(request: ApiRequest, conversation_id: str) -> None:
    """Move the caller's read marker forward."""
    from functions.dm import dal, logic
    from functions.dm.models import MarkRead

    body = request.body(MarkRead)
    logic.mark_read(dal.store(), request.user_id, conversation_id, body.message_id)


@api.route("/v1/messages/forward", methods=["POST"], status=201)
def dm_forward_message(request: ApiRequest) -> Reply:
    """Forward one message into 1..20 conversations (Idempotency-Key required)."""
    from functions.dm import forward_dal, forwarding
    from functions.dm.models import ForwardMessage

    idem_key = request.idempotency_key()
    body = request.body(ForwardMessage)
    result = forwarding.forward(forward_dal.forward_store(), _clock(), request.user_id, body, idem_key)
    record_event("message_forwarded")
    return Reply(result, status=201)


@api.route("/v1/reports", methods=["POST"], status=201)
def dm_create_report(request: ApiRequest) -> dict[str, Any]:
    """Report a message, user, conversation or live-chat message."""
    from functions.dm import dal, reports
    from functions.dm.models import CreateReport

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


@api.route("/v1/attachments", methods=["POST"], status=201)
def dm_create_attachment(request: ApiRequest) -> dict[str, Any]:
    """A presigned upload for one attachment."""
    from functions.dm import dal, uploads
    from functions.dm.models import CreateAttachment

    return uploads.create_attachment(
        dal.media(), dal.uploads(), _clock(), request.user_id, request.body(CreateAttachment)
    )
