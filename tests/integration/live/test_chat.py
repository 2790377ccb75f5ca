"""Posting to live chat: idempotency, slow mode, room cap, bans, banned words, deletes."""

from __future__ import annotations

from tests.conftest import ApiClient, body_of
from tests.integration.live.conftest import Clock, StreamPump, post, start_stream


def _feed(api: ApiClient, stream_id: str, user: str = "viewer") -> list[dict[str, object]]:
    return list(body_of(api.get(f"/v1/streams/{stream_id}/chat", user=user))["items"])


def test_posting_returns_the_message(api: ApiClient, clock: Clock) -> None:
    stream_id = start_stream(api)
    response = post(api, stream_id, "alice", "hi all", cmid="c-1")
    assert response.status_code == 201
    message = body_of(response)
    assert set(message) == {"message_id", "sender_id", "text", "sent_at", "type"}
    assert (message["sender_id"], message["text"], message["type"]) == ("alice", "hi all", "chat")


def test_same_client_message_id_returns_the_original_once(
    api: ApiClient, clock: Clock, pump: StreamPump
) -> None:
    # Given a message was posted
    stream_id = start_stream(api)
    first = post(api, stream_id, "alice", "hello", cmid="m-1")
    # When the client retries it (even right away, inside slow mode)
    retry = post(api, stream_id, "alice", "hello", cmid="m-1")
    # Then the original comes back, and the room holds it once
    assert (first.status_code, retry.status_code) == (201, 200)
    assert body_of(retry) == body_of(first)
    pump.project()
    assert [m["message_id"] for m in _feed(api, stream_id)] == [body_of(first)["message_id"]]
    # And the same id with another text is refused
    clock.advance(5000)
    reused = post(api, stream_id, "alice", "something else", cmid="m-1")
    assert reused.status_code == 422 and body_of(reused)["code"] == "idempotency_key_reused"


def test_slow_mode_limits_viewers_but_not_host_or_moderators(api: ApiClient, clock: Clock) -> None:
    # Given a room with 10 s slow mode and a moderator
    stream_id = start_stream(api)
    api.patch(f"/v1/streams/{stream_id}/settings", {"slow_mode_seconds": 10}, user="host")
    api.put(f"/v1/streams/{stream_id}/moderators/mod", user="host")
    assert post(api, stream_id, "alice", "one").status_code == 201
    # When alice posts again 3 s later
    clock.advance(3000)
    early = post(api, stream_id, "alice", "two")
    # Then she is told to wait the remaining 7 s
    assert early.status_code == 429
    assert body_of(early)["code"] == "rate_limited" and early.headers["Retry-After"] == "7"
    # And once the interval has passed she can post again
    clock.advance(7000)
    assert post(api, stream_id, "alice", "three").status_code == 201
    # And host and moderators are exempt
    for user in ("host", "mod"):
        assert post(api, stream_id, user, "a").status_code == 201
        assert post(api, stream_id, user, "b").status_code == 201


def test_default_slow_mode_is_one_second(api: ApiClient, clock: Clock) -> None:
    stream_id = start_stream(api)
    assert post(api, stream_id, "alice", "one").status_code == 201
    again = post(api, stream_id, "alice", "two")
    assert again.status_code == 429 and again.headers["Retry-After"] == "1"
    clock.advance(1000)
    assert post(api, stream_id, "alice", "two").status_code == 201


def test_room_cap_refuses_messages_over_the_cap_each_second(api: ApiClient, clock: Clock) -> None:
    # Given a room capped at 3 messages/s
    stream_id = start_stream(api, room_cap=3)
    # When four viewers post in the same second
    statuses = [post(api, stream_id, f"viewer{i}", "hey").status_code for i in range(4)]
    # Then the fourth is refused with 429 and Retry-After
    assert statuses == [201, 201, 201, 429]
    over = post(api, stream_id, "viewer9", "hey")
    assert body_of(over)["code"] == "rate_limited" and over.headers["Retry-After"] == "1"
    # And the next second has room again
    clock.advance(1000)
    assert post(api, stream_id, "viewer9", "hey").status_code == 201


def test_bans_by_host_or_moderator(api: ApiClient, clock: Clock) -> None:
    # Given a stream with a moderator
    stream_id = start_stream(api)
    api.put(f"/v1/streams/{stream_id}/moderators/mod", user="host")
    # When the host bans troll1 and the moderator bans troll2
    assert api.put(f"/v1/streams/{stream_id}/bans/troll1", user="host").status_code == 204
    assert api.put(f"/v1/streams/{stream_id}/bans/troll2", user="mod").status_code == 204
    # Then both are refused with 403
    for troll in ("troll1", "troll2"):
        refused = post(api, stream_id, troll, "spam")
        assert refused.status_code == 403 and body_of(refused)["code"] == "forbidden"
    # And a viewer cannot ban, nor can anyone ban the host
    assert api.put(f"/v1/streams/{stream_id}/bans/alice", user="viewer").status_code == 403
    assert api.delete(f"/v1/streams/{stream_id}/bans/troll1", user="viewer").status_code == 403
    assert api.put(f"/v1/streams/{stream_id}/bans/host", user="mod").status_code == 422
    # And after an unban troll1 may post again
    assert api.delete(f"/v1/streams/{stream_id}/bans/troll1", user="mod").status_code == 204
    assert post(api, stream_id, "troll1", "sorry").status_code == 201


def test_banned_words_are_rejected_as_whole_words_ignoring_case(api: ApiClient, clock: Clock) -> None:
    # Given the host bans the word "spoiler"
    stream_id = start_stream(api)
    api.patch(f"/v1/streams/{stream_id}/settings", {"banned_words": ["spoiler"]}, user="host")
    # When a viewer writes it in capitals
    rejected = post(api, stream_id, "alice", "SPOILER: he dies")
    # Then the message is rejected (and nothing was stored: the same id can be reused)
    assert rejected.status_code == 422 and body_of(rejected)["code"] == "rejected_by_moderation"
    # But a word that merely contains it is fine
    assert post(api, stream_id, "alice", "no spoilers please", cmid="SPOILER: he dies").status_code == 201


def test_moderator_deletes_a_message_and_it_disappears(
    api: ApiClient, clock: Clock, pump: StreamPump
) -> None:
    # Given two messages in the feed
    stream_id = start_stream(api)
    api.put(f"/v1/streams/{stream_id}/moderators/mod", user="host")
    bad = body_of(post(api, stream_id, "troll", "buy followers"))
    good = body_of(post(api, stream_id, "alice", "nice stream"))
    pump.project()
    assert len(_feed(api, stream_id)) == 2
    path = f"/v1/streams/{stream_id}/chat/{bad['message_id']}"
    # When a viewer tries to delete, they are refused
    assert api.delete(path, user="alice").status_code == 403
    # When the moderator deletes it (twice: a retry)
    assert api.delete(path, user="mod").status_code == 204
    assert api.delete(path, user="mod").status_code == 204
    clock.advance(1000)
    pump.project()
    # Then later reads no longer show it
    assert [m["message_id"] for m in _feed(api, stream_id)] == [good["message_id"]]
    # And an unknown message is 404
    missing = api.delete(f"/v1/streams/{stream_id}/chat/01JAAAAAAAAAAAAAAAAAAAAAAA", user="mod")
    assert missing.status_code == 404


def test_chat_input_validation(api: ApiClient) -> None:
    stream_id = start_stream(api)
    path = f"/v1/streams/{stream_id}/chat"
    for bad in (
        {"client_message_id": "c", "text": ""},
        {"client_message_id": "c", "text": "x" * 301},
        {"client_message_id": "", "text": "hi"},
        {"client_message_id": "c" * 65, "text": "hi"},
        {"client_message_id": "c", "text": "hi", "type": "stream_ended"},
        {"text": "hi"},
    ):
        response = api.post(path, bad, user="alice")
        assert response.status_code == 400, bad
        assert body_of(response)["code"] == "validation_error"
