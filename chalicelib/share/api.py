"""HTTP routes of the share domain: videos, shares, share suggestions.

The routes are declared at import; the domain's logic, dal and models (pydantic, boto3) are
imported inside the handlers, on first use, so ``import app`` stays cheap (cold start).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.clock import Clock, now_ms
from chalicelib.core.observability import record_event
from chalicelib.core.routedoc import IDEMPOTENCY_KEY, LIMIT
from chalicelib.core.web import Api, ApiRequest, Reply

bp = Blueprint(__name__)
api = Api(bp)


@api.route(
    "/v1/videos/{video_id}",
    methods=["GET"],
    status=200,
    response="chalicelib.share.models:Video",
    replies={200: "The video."},
    errors=(404,),
)
def share_get_video(request: ApiRequest, video_id: str) -> dict[str, Any]:
    """A video the caller may see"""
    from chalicelib.share import dal
    from chalicelib.share.videos import get_video
    from chalicelib.social.graph import graph

    return get_video(dal.videos(), graph(), dal.url_signer(), request.user_id, video_id)


@api.route(
    "/v1/videos/{video_id}/shares",
    methods=["POST"],
    status=201,
    response="chalicelib.share.models:ShareResult",
    replies={201: "Per-recipient results (a retry returns the original)."},
    errors=(404, 422, 429),
    body="chalicelib.share.models:ShareRequest",
    example={"recipient_ids": ["demo-bob", "demo-carol"], "note": "look at this"},
    params=(IDEMPOTENCY_KEY,),
)
def share_create(request: ApiRequest, video_id: str) -> Reply:
    """Share a video to 1 to 20 people and conversations in one call

    Per target a share is a DM from the caller: recipients it may not reach are `not_allowed` (never
    says why) — blocks, `no_one`, and the message-request limit (a stranger gets one message in
    their requests until they accept). It counts in the caller's DM rate limit (5/s, burst 10):
    while that is used up → 429 with Retry-After. `conversation_ids` (direct or group conversations
    the caller is an active member of) sit beside `recipient_ids`: 1 to 20 targets in total, one
    result per target.
    """
    from chalicelib.share import dal
    from chalicelib.share.logic import share_video
    from chalicelib.share.models import ShareRequest

    idem_key = request.idempotency_key()
    body = request.body(ShareRequest)
    response = share_video(
        dal.shares(),
        sharer=request.user_id,
        video_id=video_id,
        request=body,
        idem_key=idem_key,
        clock=Clock(now_ms=now_ms),
    )
    record_event("video_shared")
    return Reply(response, status=201)


@api.route(
    "/v1/me/share-suggestions",
    methods=["GET"],
    status=200,
    response="chalicelib.share.models:ShareSuggestions",
    replies={200: "One page."},
    params=(LIMIT,),
)
def share_suggestions_list(request: ApiRequest) -> dict[str, Any]:
    """People to share with: recent interactions first, then friends"""
    from chalicelib.share import dal
    from chalicelib.share.suggestions import share_suggestions
    from chalicelib.social.graph import graph

    page = request.page()
    items = share_suggestions(dal.suggestion_source(), graph(), request.user_id, page.limit)
    return {"items": items, "next_cursor": None}
