"""Video projection and visibility: plain logic over repositories (no boto3, no chalice).

The share domain does not own videos: it keeps a projection fed by the video platform's events.
Events may repeat or arrive out of order: the newest ``occurred_at`` wins (a conditional write in
the repository) and a deleted video stays deleted (tombstone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError as PydanticValidationError

from chalicelib.core.errors import NotFoundError
from chalicelib.share.models import VideoEvent
from chalicelib.share.ports import UrlSigner, VideoRepository
from chalicelib.social.access import GraphReader

Outcome = Literal["applied", "stale", "dropped"]


class VideoNotFoundError(NotFoundError):
    """The video does not exist, was deleted, or the caller may not see it."""

    code = "not_found"


@dataclass(frozen=True)
class Video:
    """The projection of one video."""

    video_id: str
    author_id: str
    title: str
    visibility: str
    share_count: int = 0
    thumbnail_key: str | None = None
    deleted: bool = False


def parse_video_event(raw: str | bytes | dict[str, Any]) -> VideoEvent | None:
    """Parse one video-platform message; None when it is malformed (callers log and drop it)."""
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
        if not isinstance(data, dict):
            return None
        return VideoEvent.model_validate(data)
    except (ValueError, TypeError, PydanticValidationError):
        return None


def apply_video_event(videos: VideoRepository, raw: str | bytes | dict[str, Any], now_ms: int) -> Outcome:
    """Apply one message to the projection: ``applied``, ``stale`` (older/duplicate) or ``dropped``
    (``now_ms``: the edge's clock)."""
    event = parse_video_event(raw)
    if event is None:
        return "dropped"
    return "applied" if videos.apply(event, now_ms) else "stale"


def can_see(video: Video, viewer: str, viewer_is_author_friend: bool) -> bool:
    """Visibility: public → everyone; friends → the author and the author's friends; private → author."""
    if video.deleted:
        return False
    if viewer == video.author_id or video.visibility == "public":
        return True
    return video.visibility == "friends" and viewer_is_author_friend


def needs_friendship(video: Video, viewer: str) -> bool:
    """True when visibility for ``viewer`` depends on friendship with the author."""
    return not video.deleted and video.visibility == "friends" and viewer != video.author_id


def video_view(video: Video, urls: UrlSigner) -> dict[str, Any]:
    """The public shape of a video."""
    view: dict[str, Any] = {
        "video_id": video.video_id,
        "author_id": video.author_id,
        "title": video.title,
        "visibility": video.visibility,
        "share_count": video.share_count,
    }
    if video.thumbnail_key:
        view["thumbnail_url"] = urls.thumbnail_url(video.thumbnail_key)
    return view


def get_video(
    videos: VideoRepository, graph: GraphReader, urls: UrlSigner, viewer: str, video_id: str
) -> dict[str, Any]:
    """``GET /v1/videos/{id}``: 404 when unknown, deleted or not visible to ``viewer``."""
    video = videos.get(video_id)
    if video is None or video.deleted:
        raise VideoNotFoundError("Video not found.")
    # needs_friendship is False for the author, so the pair read is always of two different users.
    friend = needs_friendship(video, viewer) and graph.pair_states(video.author_id, [viewer])[viewer].friends
    if not can_see(video, viewer, friend):
        raise VideoNotFoundError("Video not found.")
    return video_view(video, urls)
