"""GET /v1/me/share-suggestions, and video cards re-checked when messages are fetched."""

from __future__ import annotations

from typing import Any

from chalicelib.share.cards import ShareVideoCards
from tests.conftest import ApiClient, body_of
from tests.integration.share.world import befriend, block, deliver, messages_in, publish, video_event


def _cards(viewer: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The card of each message's video for ``viewer``, through the DM fetch path's port."""
    found = ShareVideoCards().cards(viewer, [m["video"] for m in messages])
    return [found[str(m["video"]["video_id"])] for m in messages]


def _share(api: ApiClient, video_id: str, recipients: list[str], key: str) -> dict:
    response = api.post(
        f"/v1/videos/{video_id}/shares",
        {"recipient_ids": recipients},
        user="alice",
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 201
    return body_of(response)


def test_suggestions_are_recent_interactions_then_friends_without_blocked(api: ApiClient) -> None:
    # Given alice's friends bob, carol, erin, frank; she shared with dave (a stranger), then bob
    publish(api, "v1")
    for friend in ("bob", "carol", "erin", "frank"):
        befriend("alice", friend)
    _share(api, "v1", ["dave"], "k1")
    _share(api, "v1", ["bob"], "k2")
    # And erin blocked alice, and alice blocked frank
    block("erin", "alice")
    block("alice", "frank")
    # When alice asks for suggestions
    response = api.get("/v1/me/share-suggestions", user="alice")
    # Then the most recent interaction comes first, then older ones, then the other friends
    assert response.status_code == 200
    items = body_of(response)["items"]
    assert [i["user_id"] for i in items] == ["bob", "dave", "carol"]
    assert items[0]["last_interaction_at"] > items[1]["last_interaction_at"]
    assert items[2]["last_interaction_at"] is None
    # And ?limit caps the list
    limited = body_of(api.get("/v1/me/share-suggestions?limit=1", user="alice"))
    assert [i["user_id"] for i in limited["items"]] == ["bob"]
    assert limited["next_cursor"] is None


def test_suggestions_limit_is_validated(api: ApiClient) -> None:
    assert api.get("/v1/me/share-suggestions?limit=0", user="alice").status_code == 400
    assert api.get("/v1/me/share-suggestions?limit=101", user="alice").status_code == 400


def test_card_becomes_unavailable_when_the_video_goes_private(api: ApiClient) -> None:
    # Given a video alice shared with bob
    publish(api, "v1", title="Cats", thumbnail_key="thumbs/v1.jpg", occurred_at="2026-11-28T01:00:00.000Z")
    befriend("alice", "bob")
    cid = _share(api, "v1", ["bob"], "k1")["results"][0]["conversation_id"]
    messages = messages_in(cid)
    # When bob fetches it, he sees the card
    [card] = _cards("bob", messages)
    assert card["video_id"] == "v1" and card["title"] == "Cats" and card["author_id"] == "carol"
    assert "X-Amz-Signature" in card["thumbnail_url"]
    # When the author makes the video private
    deliver(
        api,
        video_event(
            "v1",
            kind="video.updated",
            title="Cats",
            visibility="private",
            occurred_at="2026-11-28T02:00:00.000Z",
        ),
    )
    # Then bob's card only says it is unavailable
    assert _cards("bob", messages) == [{"video_id": "v1", "unavailable": True}]
    # And the author still sees it
    assert _cards("carol", messages)[0]["title"] == "Cats"


def test_card_of_a_deleted_video_is_unavailable(api: ApiClient) -> None:
    publish(api, "v1", occurred_at="2026-11-28T01:00:00.000Z")
    befriend("alice", "bob")
    cid = _share(api, "v1", ["bob"], "k1")["results"][0]["conversation_id"]
    deliver(api, video_event("v1", kind="video.deleted", occurred_at="2026-11-28T02:00:00.000Z"))
    assert _cards("bob", messages_in(cid))[0] == {"video_id": "v1", "unavailable": True}
