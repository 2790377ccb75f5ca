"""HTTP routes of the share domain: videos, shares, share suggestions.

The routes are declared at import; the domain's logic, dal and models (pydantic, boto3) are
imported inside the handlers, on first use, so ``import app`` stays cheap (cold start).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from functions.core.clock import now_iso
from functions.core.observability import record_event
from functions.core.web import Api, ApiRequest, Reply

bp = Blueprint(__name__)
api = Api(bp)


@api.route("/v1/videos/{video_id}", methods=["GET"], status=200)
def share_get_video(request: ApiRequest, video_id: str) -> dict[str, Any]:
    """A video the caller may see (404 otherwise)."""
    from functions.share import dal
    from functions.share.videos import get_video
    from functions.social.graph import graph

    return get_video(dal.videos(), graph(), dal.url_signer(), request.user_id, video_id)


@api.route("/v1/videos/{video_id}/shares", methods=["POST"], status=201)
def share_create(request: ApiRequest, video_id: str) -> Reply:
    """Share a video to 1..20 recipients (Idempotency-Key required)."""
    from functions.share import dal
    from functions.share.logic import share_video
    from functions.share.models import ShareRequest

    idem_key = request.idempotency_key()
    body = request.body(ShareRequest)
    response = share_video(
        dal.shares(),
        sharer=request.user_id,
        video_id=video_id,
        request=body,
        idem_key=idem_key,
        now_iso=now_iso,
    )
    record_event("video_shared")
    return Reply(response, status=201)


@api.route("/v1/me/share-suggestions", methods=["GET"], status=200)
def share_suggestions_list(request: ApiRequest) -> dict[str, Any]:
    """People to share with: recent interactions first, then friends; never blocked users."""
    from functions.share import dal
    from functions.share.suggestions import share_suggestions
    from functions.social.graph import graph

    page = request.page()
    items = share_suggestions(dal.suggestion_source(), graph(), request.user_id, page.limit)
    return {"items": items, "next_cursor": None}
