"""Video cards of shared videos, re-checked for visibility at read time.

The DM fetch path calls :class:`ShareVideoCards` with the videos of a page: one BatchGetItem of
the referenced videos plus one batched friendship read (only when friends-only videos by someone
else are referenced). A video that became private, was deleted, or is otherwise no longer
visible to the viewer shows as ``{"video_id", "unavailable": true}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.share.ports import VideoBatchReader
from chalicelib.share.videos import UrlSigner, can_see, needs_friendship
from chalicelib.social.access import GraphReader


def _unavailable(video_id: str) -> dict[str, Any]:
    return {"video_id": video_id, "unavailable": True}


def video_cards(
    viewer: str,
    video_ids: Sequence[str],
    videos: VideoBatchReader,
    graph: GraphReader,
    urls: UrlSigner,
) -> dict[str, dict[str, Any]]:
    """The card ``viewer`` may see now for each video, by ``video_id`` (in first-seen order)."""
    ids = list(dict.fromkeys(video_ids))
    if not ids:
        return {}
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
    return cards


class ShareVideoCards:
    """The DM fetch path's ``VideoCards`` port: re-checks each shared video for the viewer."""

    def cards(self, viewer_id: str, videos: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The card ``viewer_id`` may see now, by ``video_id`` (one batched read of the videos)."""
        from chalicelib.share import dal
        from chalicelib.social.graph import graph

        return video_cards(
            viewer_id, [str(v["video_id"]) for v in videos], dal.videos(), graph(), dal.url_signer()
        )
