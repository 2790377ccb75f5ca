"""Video projection (events in) and GET /v1/videos/{id} visibility."""

from __future__ import annotations

from urllib.parse import urlparse

from tests.conftest import ApiClient, body_of
from tests.integration.share.world import befriend, deliver, publish, video_event


def test_published_video_is_visible_with_a_thumbnail_url(api: ApiClient) -> None:
    # Given a public video published with a thumbnail
    publish(api, "v1", title="Hello", thumbnail_key="thumbs/v1.jpg")
    # When anyone fetches it
    response = api.get("/v1/videos/v1", user="stranger")
    # Then they see it, with a presigned thumbnail URL and no shares yet
    assert response.status_code == 200
    body = body_of(response)
    assert {k: body[k] for k in ("video_id", "author_id", "title", "visibility", "share_count")} == {
        "video_id": "v1",
        "author_id": "carol",
        "title": "Hello",
        "visibility": "public",
        "share_count": 0,
    }
    url = urlparse(body["thumbnail_url"])
    assert url.path.endswith("/thumbs/v1.jpg") and "X-Amz-Signature" in url.query


def test_unknown_video_is_404(api: ApiClient) -> None:
    response = api.get("/v1/videos/nope", user="alice")
    assert response.status_code == 404
    assert body_of(response)["code"] == "not_found"


def test_duplicate_and_out_of_order_events_keep_the_newest(api: ApiClient) -> None:
    # Given an update at 02:00 delivered before the publish at 01:00, and a duplicate update
    deliver(
        api,
        video_event("v2", kind="video.updated", title="New title", occurred_at="2026-11-28T02:00:00.000Z"),
    )
    deliver(api, video_event("v2", title="Old title", occurred_at="2026-11-28T01:00:00.000Z"))
    deliver(
        api,
        video_event("v2", kind="video.updated", title="New title", occurred_at="2026-11-28T02:00:00.000Z"),
    )
    # Then the newest state wins and no thumbnail is shown
    body = body_of(api.get("/v1/videos/v2", user="alice"))
    assert body["title"] == "New title"
    assert "thumbnail_url" not in body


def test_deleted_video_stays_deleted(api: ApiClient) -> None:
    # Given a published video that is deleted
    publish(api, "v3", occurred_at="2026-11-28T01:00:00.000Z")
    deliver(api, video_event("v3", kind="video.deleted", occurred_at="2026-11-28T02:00:00.000Z"))
    assert api.get("/v1/videos/v3", user="alice").status_code == 404
    # When a newer update (or a replay of the publish) arrives later
    deliver(api, video_event("v3", kind="video.updated", occurred_at="2026-11-28T03:00:00.000Z"))
    publish(api, "v3", occurred_at="2026-11-28T01:00:00.000Z")
    # Then it is still gone
    assert api.get("/v1/videos/v3", user="alice").status_code == 404


def test_delete_arriving_before_publish_wins(api: ApiClient) -> None:
    deliver(api, video_event("v4", kind="video.deleted", occurred_at="2026-11-28T02:00:00.000Z"))
    publish(api, "v4", occurred_at="2026-11-28T01:00:00.000Z")
    assert api.get("/v1/videos/v4", user="carol").status_code == 404


def test_malformed_events_are_dropped_without_crashing(api: ApiClient) -> None:
    # Given garbage, a wrong type, a missing field and a bad timestamp
    deliver(api, "not json")
    deliver(api, "[1, 2]")
    deliver(api, {"type": "video.exploded", "video_id": "v5", "occurred_at": "2026-11-28T01:00:00.000Z"})
    deliver(api, {"type": "video.published", "video_id": "v5", "occurred_at": "2026-11-28T01:00:00.000Z"})
    deliver(api, video_event("v5", occurred_at="yesterday"))
    deliver(api, video_event("v5", visibility="secret"))
    # Then nothing was stored, and a later valid event still works
    assert api.get("/v1/videos/v5", user="carol").status_code == 404
    publish(api, "v5")
    assert api.get("/v1/videos/v5", user="carol").status_code == 200


def test_friends_only_video_is_visible_to_the_author_and_friends_only(api: ApiClient) -> None:
    # Given carol's friends-only video; alice is carol's friend, dave only follows... nobody
    befriend("carol", "alice")
    publish(api, "vf", visibility="friends")
    # Then carol and alice see it, dave gets 404
    assert api.get("/v1/videos/vf", user="carol").status_code == 200
    assert api.get("/v1/videos/vf", user="alice").status_code == 200
    assert api.get("/v1/videos/vf", user="dave").status_code == 404


def test_private_video_is_visible_to_the_author_only(api: ApiClient) -> None:
    befriend("carol", "alice")
    publish(api, "vp", visibility="private")
    assert api.get("/v1/videos/vp", user="carol").status_code == 200
    assert api.get("/v1/videos/vp", user="alice").status_code == 404
