"""HTTP routes of the live domain: streams, moderation and chat.

The routes are declared at import; the domain's logic, dal and models (pydantic, boto3) are
imported inside the handlers, on first use, so ``import app`` stays cheap (cold start).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.clock import now_ms
from chalicelib.core.ids import new_ulid
from chalicelib.core.observability import record_event
from chalicelib.core.routedoc import CURSOR
from chalicelib.core.settings import get_settings
from chalicelib.core.web import Api, ApiRequest, Reply

bp = Blueprint(__name__)
api = Api(bp)


@api.route(
    "/v1/streams",
    methods=["POST"],
    status=201,
    response="chalicelib.live.replies:Stream",
    replies={201: "Live."},
    body="chalicelib.live.models:StartStreamRequest",
    example={"title": "Friday flash sale"},
)
def live_start_stream(request: ApiRequest) -> dict[str, Any]:
    """Start a live stream hosted by the caller"""
    from chalicelib.live import dal, streams
    from chalicelib.live.models import StartStreamRequest

    body = request.body(StartStreamRequest)
    stream = streams.start_stream(
        dal.streams(), host_id=request.user_id, request=body, stream_id=new_ulid(), now_ms=now_ms()
    )
    record_event("live_stream_started")
    return stream.view()


@api.route(
    "/v1/streams/{stream_id}",
    methods=["GET"],
    response="chalicelib.live.replies:StreamDetail",
    replies={200: "The stream."},
    errors=(404,),
)
def live_get_stream(request: ApiRequest, stream_id: str) -> dict[str, Any]:
    """A stream with its pinned products and where to read its chat"""
    from chalicelib.live import dal
    from chalicelib.live.errors import StreamNotFoundError
    from chalicelib.live.wiring import stream_page

    meta, pinned = stream_page(stream_id)
    if meta is None:
        raise StreamNotFoundError("No such stream.")
    stream = dal.stream_from_item(meta)
    return {
        **stream.view(),
        "pinned": pinned,
        "chat": {"slow_mode_seconds": stream.slow_mode_seconds, "snapshot_url": dal.snapshot_url(stream_id)},
    }


@api.route(
    "/v1/streams/{stream_id}/end",
    methods=["POST"],
    response="chalicelib.live.replies:Stream",
    replies={200: "The ended stream."},
    errors=(403, 404),
)
def live_end_stream(request: ApiRequest, stream_id: str) -> dict[str, Any]:
    """End the stream (host only); chat becomes read-only and its sales close

    Every pinned product is unpinned: its unsold units go back to the product (held ones when
    their orders are released) and orders are refused with 409 `stream_ended`. Ending an ended
    stream is a 200 that closes whatever is still open (retry-safe).
    """
    from chalicelib.live import dal, streams, wiring

    stream = streams.end_stream(
        dal.streams(),
        wiring.close_sales,
        stream_id=stream_id,
        caller=request.user_id,
        message_id=new_ulid(),
        now_ms=now_ms(),
    )
    record_event("live_stream_ended")
    return stream.view()


@api.route(
    "/v1/streams/{stream_id}/settings",
    methods=["PATCH"],
    response="chalicelib.live.replies:StreamSettings",
    replies={200: "The settings after the change."},
    errors=(403, 404, 409),
    body="chalicelib.live.models:StreamSettingsRequest",
    example={"slow_mode_seconds": 5, "banned_words": ["spoiler"]},
)
def live_update_settings(request: ApiRequest, stream_id: str) -> dict[str, Any]:
    """Change slow mode, banned words, the room cap or the room's size (host only)

    `expected_peak_msgs_per_second` re-sizes a live room to K = ceil(peak / 500) shards (at most
    50). K only grows: a smaller peak, or an ended stream, leaves it as it is. Raise `room_cap` with
    it: each shard admits `room_cap / K` messages per second.
    """
    from chalicelib.live import dal, streams
    from chalicelib.live.models import StreamSettingsRequest

    body = request.body(StreamSettingsRequest)
    stream = streams.update_settings(dal.streams(), stream_id=stream_id, caller=request.user_id, request=body)
    return {
        "slow_mode_seconds": stream.slow_mode_seconds,
        "banned_words": list(stream.banned_words),
        "room_cap": stream.room_cap,
        "shards": stream.shards,
    }


@api.route(
    "/v1/streams/{stream_id}/moderators/{user_id}",
    methods=["PUT"],
    errors=(403, 404, 409),
)
def live_add_moderator(request: ApiRequest, stream_id: str, user_id: str) -> None:
    """Appoint a moderator (host only)"""
    from chalicelib.live import dal, streams

    streams.set_moderator(
        dal.streams(), stream_id=stream_id, caller=request.user_id, user_id=user_id, on=True
    )


@api.route(
    "/v1/streams/{stream_id}/moderators/{user_id}",
    methods=["DELETE"],
    errors=(403, 404, 409),
)
def live_remove_moderator(request: ApiRequest, stream_id: str, user_id: str) -> None:
    """Remove a moderator (host only)"""
    from chalicelib.live import dal, streams

    streams.set_moderator(
        dal.streams(), stream_id=stream_id, caller=request.user_id, user_id=user_id, on=False
    )


@api.route(
    "/v1/streams/{stream_id}/bans/{user_id}",
    methods=["PUT"],
    errors=(403, 404, 409),
)
def live_ban_user(request: ApiRequest, stream_id: str, user_id: str) -> None:
    """Ban a user from the chat (host or moderator)"""
    from chalicelib.live import dal, streams

    streams.set_ban(
        dal.streams(), stream_id=stream_id, caller=request.user_id, user_id=user_id, on=True, now_ms=now_ms()
    )
    record_event("live_user_banned")


@api.route(
    "/v1/streams/{stream_id}/bans/{user_id}",
    methods=["DELETE"],
    errors=(403, 404, 409),
)
def live_unban_user(request: ApiRequest, stream_id: str, user_id: str) -> None:
    """Lift a ban (host or moderator)"""
    from chalicelib.live import dal, streams

    streams.set_ban(
        dal.streams(), stream_id=stream_id, caller=request.user_id, user_id=user_id, on=False, now_ms=now_ms()
    )


@api.route(
    "/v1/streams/{stream_id}/chat",
    methods=["POST"],
    status=201,
    response="chalicelib.live.replies:ChatMessage",
    replies={201: "Posted.", 200: "A retry: the original message for this `client_message_id`."},
    errors=(403, 404, 409, 422, 429),
    body="chalicelib.live.models:PostChatRequest",
    example={"client_message_id": "c-1", "text": "hello room"},
)
def live_post_chat(request: ApiRequest, stream_id: str) -> Reply:
    """Post to the room's chat

    Banned → 403; banned word → 422 `rejected_by_moderation`; slow mode or room cap → 429 with
    Retry-After; ended stream → 409 `stream_ended`.
    """
    from chalicelib.live import chat, dal
    from chalicelib.live.models import PostChatRequest

    body = request.body(PostChatRequest)
    outcome = chat.post_message(
        dal.streams(),
        dal.chat(),
        stream_id=stream_id,
        sender_id=request.user_id,
        request=body,
        now_ms=now_ms(),
    )
    if outcome.created:
        record_event("live_chat_message_sent")
    return Reply(outcome.message, status=201 if outcome.created else 200)


@api.route(
    "/v1/streams/{stream_id}/chat",
    methods=["GET"],
    response="chalicelib.live.replies:ChatPoll",
    replies={200: "Messages oldest to newest."},
    errors=(404,),
    params=(CURSOR,),
)
def live_poll_chat(request: ApiRequest, stream_id: str) -> dict[str, Any]:
    """Poll the room (last 50 messages, or only newer ones with a cursor)"""
    from chalicelib.live import chat, dal

    cursor = request.page().cursor
    return chat.poll_chat(
        dal.streams(),
        dal.snapshots(),
        stream_id=stream_id,
        caller=request.user_id,
        cursor=cursor,
        secret=get_settings().cursor_secret,
    )


@api.route(
    "/v1/streams/{stream_id}/chat/{message_id}",
    methods=["DELETE"],
    errors=(403, 404),
)
def live_delete_chat(request: ApiRequest, stream_id: str, message_id: str) -> None:
    """Hide a chat message (host or moderator)"""
    from chalicelib.live import chat, dal

    chat.delete_message(
        dal.streams(),
        dal.chat(),
        stream_id=stream_id,
        caller=request.user_id,
        message_id=message_id,
        now_ms=now_ms(),
    )
    record_event("live_chat_message_deleted")
