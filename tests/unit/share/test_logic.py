"""Share logic: outcomes per recipient, idempotent replays, concurrent duplicates."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.core.clock import Clock, ms_from_iso
from chalicelib.core.errors import IdempotencyKeyReusedError
from chalicelib.share.logic import ShareRecord, request_fingerprint, share_video
from chalicelib.share.models import ShareRequest
from chalicelib.share.videos import VideoNotFoundError
from tests.unit.share.fakes import FakeGraph, FakeShareStore, FakeVideos, video

NOW = "2026-11-28T01:02:03.456Z"
CLOCK = Clock(now_ms=lambda: ms_from_iso(NOW))


def world(visibility: str = "public") -> FakeShareStore:
    """alice↔bob friends, carol authors v1, erin blocked alice, frank accepts no one."""
    graph, videos = FakeGraph(), FakeVideos()
    graph.befriend("alice", "bob")
    graph.blocks.add(("erin", "alice"))
    graph.policies["frank"] = "no_one"
    videos.put(video(visibility=visibility))
    return FakeShareStore(graph, videos)


def run(
    store: FakeShareStore,
    recipients: list[str],
    *,
    sharer: str = "alice",
    key: str = "k",
    note: str | None = None,
) -> dict:
    ids = (f"ID{i:03d}" for i in itertools.count())
    return share_video(
        store,
        sharer=sharer,
        video_id="v1",
        request=ShareRequest(recipient_ids=recipients, note=note),
        idem_key=key,
        clock=CLOCK,
        new_id=lambda: next(ids),
    )


def test_each_recipient_gets_the_outcome_can_message_decides() -> None:
    store = world()
    body = run(store, ["bob", "dave", "erin", "frank", "alice"])
    assert [(r["recipient_id"], r["status"]) for r in body["results"]] == [
        ("bob", "sent"),
        ("dave", "request"),
        ("erin", "not_allowed"),
        ("frank", "not_allowed"),
        ("alice", "not_allowed"),
    ]
    assert set(body["results"][2]) == {"recipient_id", "status"}  # never says why
    assert body["share_count"] == 2
    assert len(store.messages) == 2


def test_friends_only_video_skips_recipients_who_cannot_see_it() -> None:
    store = world("friends")
    store.graph.befriend("carol", "alice")
    store.graph.befriend("carol", "bob")
    store.graph.befriend("alice", "dave")
    body = run(store, ["bob", "dave"])
    assert [r["status"] for r in body["results"]] == ["sent", "not_allowed"]


def test_a_sharer_who_cannot_see_the_video_gets_404() -> None:
    store = world("private")
    with pytest.raises(VideoNotFoundError):
        run(store, ["bob"])
    with pytest.raises(VideoNotFoundError):
        share_video(
            store,
            sharer="alice",
            video_id="nope",
            request=ShareRequest(recipient_ids=["bob"]),
            idem_key="k",
            clock=CLOCK,
        )


def test_same_key_same_body_replays_and_different_body_is_rejected() -> None:
    store = world()
    first = run(store, ["bob"], note="hi")
    assert run(store, ["bob"], note="hi") == first
    assert len(store.messages) == 1
    with pytest.raises(IdempotencyKeyReusedError):
        run(store, ["bob"], note="other")
    video_now = store.videos.get("v1")
    assert video_now is not None and video_now.share_count == 1


def test_a_concurrent_winner_is_replayed_not_duplicated() -> None:
    store = world()
    request = ShareRequest(recipient_ids=["bob"])
    winner = ShareRecord("W", request_fingerprint("v1", request), {"share_id": "W"}, pending=True)
    store.race_with = winner
    assert run(store, ["bob"]) == {"share_id": "W"}
    assert store.messages == []
    assert store.records[("alice", "v1", "k")].pending is False  # the loser finished the pending part


def test_a_stranger_gets_one_request_per_recipient_then_not_allowed() -> None:
    # Given dave, a stranger to alice with the default `friends` policy
    store = world()
    ids = (f"ID{i:03d}" for i in itertools.count())
    # When alice shares to dave five times with new keys
    bodies = [
        share_video(
            store,
            sharer="alice",
            video_id="v1",
            request=ShareRequest(recipient_ids=["dave"], note="hey"),
            idem_key=f"k{n}",
            clock=CLOCK,
            new_id=lambda: next(ids),
        )
        for n in range(5)
    ]
    # Then the first is a request and the four others are not allowed, with no reason given
    assert [b["results"][0]["status"] for b in bodies] == ["request"] + ["not_allowed"] * 4
    assert all(b["results"][0] == {"recipient_id": "dave", "status": "not_allowed"} for b in bodies[1:])
    assert len(store.messages) == 1
    # And once dave accepts, alice's shares reach his inbox again
    cid = bodies[0]["results"][0]["conversation_id"]
    store.accept(cid, "dave", "alice")
    again = share_video(
        store,
        sharer="alice",
        video_id="v1",
        request=ShareRequest(recipient_ids=["dave"]),
        idem_key="after-accept",
        clock=CLOCK,
        new_id=lambda: next(ids),
    )
    assert again["results"][0]["status"] == "sent"
    assert len(store.messages) == 2
