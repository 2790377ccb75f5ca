"""Suggestions order, card re-check and the outbox mapping."""

from __future__ import annotations

from chalicelib.core.streams import StreamChange
from chalicelib.share.cards import video_cards
from chalicelib.share.outbox import events_from_change
from chalicelib.share.suggestions import share_suggestions
from tests.unit.share.fakes import FakeGraph, FakeUrls, FakeVideos, video


class Source:
    """Fixed interactions and friends."""

    def recent_interactions(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        return [
            ("bob", "2026-11-28T02:00:00.000Z"),
            ("dave", "2026-11-28T01:00:00.000Z"),
            ("erin", "2026-11-28T00:00:00.000Z"),
        ]

    def friends(self, user_id: str) -> list[str]:
        return ["bob", "carol", "frank", "gina"]


def test_suggestions_put_recent_interactions_first_and_hide_blocked() -> None:
    graph = FakeGraph()
    graph.blocks |= {("erin", "alice"), ("alice", "frank")}
    items = share_suggestions(Source(), graph, "alice", 10)
    assert graph.calls == 1  # 6 candidates: one batched block read
    assert [(i["user_id"], i["last_interaction_at"] is not None) for i in items] == [
        ("bob", True),
        ("dave", True),
        ("carol", False),
        ("gina", False),
    ]
    assert [i["user_id"] for i in share_suggestions(Source(), graph, "alice", 2)] == ["bob", "dave"]


def test_cards_are_rechecked_for_the_viewer_in_one_batch() -> None:
    videos, graph = FakeVideos(), FakeGraph()
    videos.put(video(video_id="pub", thumbnail_key="t.jpg"))
    videos.put(video(video_id="fr", visibility="friends"))
    videos.put(video(video_id="priv", visibility="private"))
    graph.befriend("carol", "bob")
    cards = video_cards("bob", ["pub", "fr", "priv", "gone", "pub"], videos, graph, FakeUrls())
    assert list(cards.items()) == [
        (
            "pub",
            {
                "video_id": "pub",
                "title": "Cats",
                "author_id": "carol",
                "thumbnail_url": "https://media.test/t.jpg?signed",
            },
        ),
        ("fr", {"video_id": "fr", "title": "Cats", "author_id": "carol"}),
        ("priv", {"video_id": "priv", "unavailable": True}),
        ("gone", {"video_id": "gone", "unavailable": True}),
    ]
    assert graph.calls == 1


def test_no_videos_means_no_reads() -> None:
    videos, graph = FakeVideos(), FakeGraph()
    assert video_cards("bob", [], videos, graph, FakeUrls()) == {}
    assert graph.calls == 0


def _change(new: dict | None, old: dict | None = None, seq: str = "1") -> StreamChange:
    return StreamChange("e", "MODIFY" if old else "INSERT", seq, {"pk": "IDEM#x", "sk": "IDEM"}, new, old, 0)


def test_outbox_emits_one_video_shared_event_when_the_share_completes() -> None:
    share = {
        "entity": "share",
        "state": "complete",
        "share_id": "S",
        "video_id": "v1",
        "title": "Cats",
        "author_id": "carol",
        "sharer_id": "alice",
        "recipient_ids": ["bob", "dave"],
        "conversation_ids": ["c1", "c2"],
        "created_at": "2026-11-28T01:02:03.456Z",
    }
    [event] = events_from_change(_change(share))
    assert event.type == "video.shared" and event.actor_id == "alice"
    assert event.recipient_ids == ["bob", "dave"]
    assert event.data["conversation_ids"] == ["c1", "c2"] and event.data["share_id"] == "S"
    assert events_from_change(_change(share))[0].event_id == event.event_id  # replay → same id
    # pending → complete emits; pending alone or complete → complete does not
    assert events_from_change(_change(share, {**share, "state": "pending"}))
    assert events_from_change(_change({**share, "state": "pending"})) == []
    assert events_from_change(_change(share, share)) == []
    assert events_from_change(_change({**share, "recipient_ids": []})) == []
    assert events_from_change(_change({"entity": "message"})) == []
