"""Video cards in fetched messages, re-checked for visibility at read time.

The DM fetch path calls :func:`render_video_cards` with the messages of a page: one BatchGetItem
of the referenced videos plus one batched friendship read (only when friends-only videos by
someone else are referenced). A video that became private, was deleted, or is otherwise no longer
visible to the viewer shows as ``{"video_id", "unavailable": true}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from functions.share.videos import UrlSigner, Video, can_see, needs_friendship
from functions.social.access import GraphReader


class VideoBatchReader(Protocol):
    """Reads many videos at once."""

    def get_many(self, video_ids: Sequence[str]) -> dict[str, Video]:
        """Found videos by id (one batched read)."""
        ...


def _unavailable(video_id: str) -> dict[str, Any]:
    return {"video_id": video_id, "unavailable": True}


def render_cards(
    viewer: str,
    messages: Sequence[dict[str, Any]],
    videos: VideoBatchReader,
    graph: GraphReader,
    urls: UrlSigner,
) -> list[dict[str, Any]]:
    """Copies of ``messages`` whose ``video`` is the card ``viewer`` may see now."""
    ids = list(
        dict.fromkeys(str(m["video"]["video_id"]) for m in messages if isinstance(m.get("video"), dict))
    )
    if not ids:
        return [dict(m) for m in messages]
    found = videos.get_many(ids)
    authors = list(
        dict.fromkeys(v.author_id for v in found.values() if needs_friendship(v, viewer) and v.author_id)
    )
    states = graph.pair_states(viewer, authors) if authors else {}
    cards: dict[str, dict[str, Any]] = {}
    for vid in ids:
        video = found.get(vid)
        if video is None or not can_see(
            video, viewer, bool(states.get(video.author_id) and states[video.author_id].friends)
        ):
            cards[vid] = _unavailable(vid)
            continue
        card: dict[str, Any] = {"video_id": vid, "title": video.title, "author_id": video.author_id}
        if video.thumbnail_key:
            card["thumbnail_url"] = urls.thumbnail_url(video.thumbnail_key)
        cards[vid] = card
    rendered = []
    for m in messages:
        copy = dict(m)
        if isinstance(m.get("video"), dict):
            copy["video"] = cards[str(m["video"]["video_id"])]
        rendered.append(copy)
    return rendered


def render_video_cards(viewer: str, messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`render_cards` wired to the table and the media bucket (for the DM fetch path)."""
    from functions.share import dal
    from functions.social.dal import graph

    return render_cards(viewer, messages, dal.videos(), graph(), dal.url_signer())


class ShareVideoCards:
    """The DM fetch path's ``VideoCards`` port: re-checks each shared video for the viewer."""

    def cards(self, viewer_id: str, videos: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The card ``viewer_id`` may see now, by ``video_id`` (one batched read of the videos)."""
        rendered = render_video_cards(viewer_id, [{"video": v} for v in videos])
        return {str(r["video"]["video_id"]): r["video"] for r in rendered}
