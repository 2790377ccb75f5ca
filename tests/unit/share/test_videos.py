"""Video projection rules and visibility, with in-memory fakes."""

from __future__ import annotations

import json

import pytest

from chalicelib.share.videos import VideoNotFoundError, apply_video_event, can_see, get_video
from tests.unit.share.fakes import FakeGraph, FakeUrls, FakeVideos, video

T1, T2 = "2026-11-28T01:00:00.000Z", "2026-11-28T02:00:00.000Z"
NOW = 1_800_000_000_000  # the edge's clock, epoch ms


def event(kind: str = "video.published", at: str = T1, **kw: object) -> dict[str, object]:
    """An event body."""
    return {
        "type": kind,
        "video_id": "v1",
        "author_id": "carol",
        "title": "t",
        "visibility": "public",
        "occurred_at": at,
        **kw,
    }


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        json.dumps({"type": "video.published"}),
        json.dumps(event(kind="video.nope")),
        json.dumps(event(at="yesterday")),
        json.dumps(event(visibility="secret")),
        json.dumps(event(title=5)),
        json.dumps({"type": "video.updated", "video_id": "v1", "occurred_at": T1}),
    ],
)
def test_malformed_events_are_dropped(raw: str) -> None:
    videos = FakeVideos()
    assert apply_video_event(videos, raw, NOW) == "dropped"
    assert videos.get("v1") is None


def test_newest_event_wins_and_duplicates_are_stale() -> None:
    videos = FakeVideos()
    assert apply_video_event(videos, json.dumps(event("video.updated", T2, title="new")), NOW) == "applied"
    assert apply_video_event(videos, json.dumps(event(at=T1, title="old")), NOW) == "stale"
    assert apply_video_event(videos, json.dumps(event("video.updated", T2, title="new")), NOW) == "stale"
    stored = videos.get("v1")
    assert stored is not None and stored.title == "new"


def test_a_deleted_video_only_needs_id_and_time_and_stays_deleted() -> None:
    videos = FakeVideos()
    assert (
        apply_video_event(videos, {"type": "video.deleted", "video_id": "v1", "occurred_at": T1}, NOW)
        == "applied"
    )
    assert apply_video_event(videos, event("video.updated", T2), NOW) == "stale"
    with pytest.raises(VideoNotFoundError):
        get_video(videos, FakeGraph(), FakeUrls(), "carol", "v1")


@pytest.mark.parametrize(
    ("visibility", "viewer", "friend", "visible"),
    [
        ("public", "anyone", False, True),
        ("friends", "carol", False, True),
        ("friends", "alice", True, True),
        ("friends", "dave", False, False),
        ("private", "carol", False, True),
        ("private", "alice", True, False),
    ],
)
def test_visibility_rules(visibility: str, viewer: str, friend: bool, visible: bool) -> None:
    assert can_see(video(visibility=visibility), viewer, friend) is visible


def test_get_video_checks_friendship_with_the_author_and_signs_the_thumbnail() -> None:
    videos, graph = FakeVideos(), FakeGraph()
    videos.put(video(visibility="friends", thumbnail_key="t.jpg"))
    graph.befriend("carol", "alice")
    body = get_video(videos, graph, FakeUrls(), "alice", "v1")
    assert body["thumbnail_url"] == "https://media.test/t.jpg?signed"
    with pytest.raises(VideoNotFoundError):
        get_video(videos, graph, FakeUrls(), "dave", "v1")
