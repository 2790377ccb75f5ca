"""A shared video's card is re-checked when the recipient fetches the conversation."""

from __future__ import annotations

from tests.conftest import ApiClient, body_of
from tests.integration.share.world import befriend, deliver, publish, video_event


def _shared_card(api: ApiClient, conversation_id: str, user: str) -> dict[str, object]:
    page = body_of(api.get(f"/v1/conversations/{conversation_id}/messages", user=user))
    (message,) = [m for m in page["items"] if m["type"] == "video_share"]
    return message["video"]


def test_card_shows_unavailable_after_the_video_goes_private(api: ApiClient) -> None:
    # Given carol's public video shared by alice to her friend bob
    publish(api, "v9", author="carol", title="Sunset")
    befriend("alice", "bob")
    shared = body_of(
        api.post(
            "/v1/videos/v9/shares",
            {"recipient_ids": ["bob"], "note": "look"},
            user="alice",
            headers={"Idempotency-Key": "card-1"},
        )
    )
    conversation_id = shared["results"][0]["conversation_id"]
    assert _shared_card(api, conversation_id, "bob")["title"] == "Sunset"
    # When carol makes the video private
    deliver(
        api,
        video_event(
            "v9",
            kind="video.updated",
            author="carol",
            visibility="private",
            occurred_at="2026-11-28T02:00:00.000Z",
        ),
    )
    # Then bob's fetched card says only that it is unavailable
    assert _shared_card(api, conversation_id, "bob") == {"video_id": "v9", "unavailable": True}
