"""Starting, reading and ending live streams; host-only settings and moderation."""

from __future__ import annotations

from tests.conftest import ApiClient, body_of
from tests.integration.live.conftest import CallCounter, StreamPump, post, start_stream


def test_start_then_get_then_end_a_stream(api: ApiClient) -> None:
    # Given a host starts a stream
    created = api.post("/v1/streams", {"title": "Cooking live"}, user="host")
    assert created.status_code == 201
    stream = body_of(created)
    assert stream["host_id"] == "host" and stream["status"] == "live" and stream["title"] == "Cooking live"
    assert set(stream) == {"stream_id", "host_id", "title", "status", "started_at"}
    stream_id = stream["stream_id"]

    # When a viewer opens it
    seen = body_of(api.get(f"/v1/streams/{stream_id}", user="viewer"))
    # Then it is live, with its pins and where to read its chat
    assert seen["status"] == "live" and seen["pinned"] == []
    assert seen["chat"] == {
        "slow_mode_seconds": 1,
        "snapshot_url": f"https://cdn.test/socialvideo/live/{stream_id}/chat.json",
    }

    # When the host ends it (twice: a retry)
    ended = api.post(f"/v1/streams/{stream_id}/end", user="host")
    again = api.post(f"/v1/streams/{stream_id}/end", user="host")
    # Then it is ended, once
    assert ended.status_code == 200 and body_of(ended)["status"] == "ended"
    assert body_of(again) == body_of(ended)
    assert body_of(api.get(f"/v1/streams/{stream_id}", user="viewer"))["status"] == "ended"


def test_resizing_and_ending_answer_what_they_wrote_without_reading_it_back(
    api: ApiClient, aws_calls: CallCounter
) -> None:
    from chalicelib.live import dal

    # Given a live room of K = 1
    stream_id = start_stream(api)
    # When the host grows it to K = 3
    aws_calls.reset()
    grown = api.patch(
        f"/v1/streams/{stream_id}/settings", {"expected_peak_msgs_per_second": 1500}, user="host"
    )
    # Then one read and one transaction did it, and the reply is what is stored
    assert aws_calls.calls == ["GetItem", "TransactWriteItems"]
    stored = dal.streams().get(stream_id)
    assert stored is not None and (stored.shards, stored.earlier_shards) == (3, (1,))
    assert body_of(grown)["shards"] == 3
    # When the host ends it
    aws_calls.reset()
    ended = api.post(f"/v1/streams/{stream_id}/end", user="host")
    # Then one read and one transaction did it, and the reply is the stored stream's view; the
    # Query is checkout's look for pins to close (none here: nothing more to do)
    assert aws_calls.calls == ["GetItem", "TransactWriteItems", "Query"]
    stored = dal.streams().get(stream_id)
    assert stored is not None and stored.status == "ended"
    assert body_of(ended) == stored.view()


def test_ending_writes_a_stream_ended_message_and_chat_becomes_read_only(
    api: ApiClient, pump: StreamPump
) -> None:
    # Given a stream with one message
    stream_id = start_stream(api)
    assert post(api, stream_id, "viewer", "hello").status_code == 201
    # When the host ends it (and the table's projector Lambda runs on the stream)
    api.post(f"/v1/streams/{stream_id}/end", user="host")
    assert pump.deliver() > 0
    # Then the feed ends with a stream_ended system message
    items = body_of(api.get(f"/v1/streams/{stream_id}/chat", user="viewer"))["items"]
    assert [m["type"] for m in items] == ["chat", "stream_ended"]
    # And sending is refused with 409 stream_ended
    late = post(api, stream_id, "viewer2", "too late")
    assert late.status_code == 409 and body_of(late)["code"] == "stream_ended"


def test_unknown_stream_is_404_everywhere(api: ApiClient) -> None:
    missing = "01JAAAAAAAAAAAAAAAAAAAAAAA"
    for response in (
        api.get(f"/v1/streams/{missing}", user="u"),
        api.post(f"/v1/streams/{missing}/end", user="u"),
        api.patch(f"/v1/streams/{missing}/settings", {"slow_mode_seconds": 3}, user="u"),
        api.put(f"/v1/streams/{missing}/moderators/m", user="u"),
        api.put(f"/v1/streams/{missing}/bans/b", user="u"),
        api.get(f"/v1/streams/{missing}/chat", user="u"),
        post(api, missing, "u", "hi"),
        api.delete(f"/v1/streams/{missing}/chat/01JAAAAAAAAAAAAAAAAAAAAAAA", user="u"),
    ):
        assert response.status_code == 404, response.body
        assert body_of(response)["code"] == "not_found"


def test_only_the_host_may_end_change_settings_or_appoint_moderators(api: ApiClient) -> None:
    # Given someone else's stream
    stream_id = start_stream(api, host="host")
    # When a viewer tries host-only actions
    attempts = [
        api.post(f"/v1/streams/{stream_id}/end", user="viewer"),
        api.patch(f"/v1/streams/{stream_id}/settings", {"slow_mode_seconds": 0}, user="viewer"),
        api.put(f"/v1/streams/{stream_id}/moderators/viewer", user="viewer"),
        api.delete(f"/v1/streams/{stream_id}/moderators/viewer", user="viewer"),
    ]
    # Then each is 403 and nothing changed
    assert [r.status_code for r in attempts] == [403, 403, 403, 403]
    assert all(body_of(r)["code"] == "forbidden" for r in attempts)
    seen = body_of(api.get(f"/v1/streams/{stream_id}", user="viewer"))
    assert seen["status"] == "live" and seen["chat"]["slow_mode_seconds"] == 1


def test_a_moderator_is_not_a_host(api: ApiClient) -> None:
    # Given a moderator
    stream_id = start_stream(api)
    assert api.put(f"/v1/streams/{stream_id}/moderators/mod", user="host").status_code == 204
    # When the moderator tries host-only actions
    end = api.post(f"/v1/streams/{stream_id}/end", user="mod")
    appoint = api.put(f"/v1/streams/{stream_id}/moderators/friend", user="mod")
    # Then they are refused
    assert (end.status_code, appoint.status_code) == (403, 403)


def test_settings_validation(api: ApiClient) -> None:
    stream_id = start_stream(api)
    path = f"/v1/streams/{stream_id}/settings"
    for bad in (
        {"slow_mode_seconds": 121},
        {"slow_mode_seconds": -1},
        {"colour": "red"},
        {},
        {"banned_words": [""]},
        {"expected_peak_msgs_per_second": 0},
        {"expected_peak_msgs_per_second": 25001},
    ):
        response = api.patch(path, bad, user="host")
        assert response.status_code == 400, bad
        assert body_of(response)["code"] == "validation_error"
    ok = api.patch(path, {"slow_mode_seconds": 5, "banned_words": ["Spoiler", "spoiler"]}, user="host")
    assert ok.status_code == 200
    assert body_of(ok) == {"slow_mode_seconds": 5, "banned_words": ["spoiler"], "room_cap": 100, "shards": 1}


def test_start_stream_validation(api: ApiClient) -> None:
    for bad in ({"title": ""}, {"title": "x" * 121}, {"title": 5}, {"title": "t", "status": "ended"}):
        response = api.post("/v1/streams", bad, user="host")
        assert response.status_code == 400, bad
    assert api.post("/v1/streams", raw="{not json", user="host").status_code == 400
