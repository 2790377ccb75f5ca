"""Reading live chat: snapshot projection over K shards, backfill, cursors, coalescing, and the
cost of a post and a poll."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import clients, keys
from chalicelib.core.ids import new_ulid
from chalicelib.core.settings import get_settings
from chalicelib.live.chat import shard_for
from tests.conftest import ApiClient, body_of
from tests.integration.live.conftest import CallCounter, Clock, StreamPump, post, start_stream


def _poll(api: ApiClient, stream_id: str, cursor: str | None = None, user: str = "viewer") -> Any:
    query = f"?cursor={cursor}" if cursor else ""
    response = api.get(f"/v1/streams/{stream_id}/chat{query}", user=user)
    assert response.status_code == 200, response.body
    return body_of(response)


def _post_many(api: ApiClient, clock: Clock, stream_id: str, n: int, start: int = 0) -> list[str]:
    ids = []
    for i in range(start, start + n):
        response = post(api, stream_id, f"user{i}", f"message {i}")
        assert response.status_code == 201, response.body
        ids.append(body_of(response)["message_id"])
        clock.advance(40)  # 25 msgs/s: under the room cap
    return ids


def _shards_used(stream_id: str, shards: int) -> int:
    ddb = clients.dynamodb()
    used = 0
    for shard in range(shards):
        out = ddb.query(
            TableName=get_settings().table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.chat_shard_pk(stream_id, shard)}},
        )
        used += 1 if out["Count"] else 0
    return used


def test_messages_over_k_shards_read_back_in_one_order(
    api: ApiClient, clock: Clock, pump: StreamPump
) -> None:
    # Given a room sized for 1,500 msgs/s (K = 3) and 15 messages posted in order
    stream_id = start_stream(api, expected_peak_msgs_per_second=1500)
    posted = _post_many(api, clock, stream_id, 15)
    assert _shards_used(stream_id, 3) >= 2
    # When the projection runs and a viewer joins
    pump.project()
    page = _poll(api, stream_id)
    # Then they see every message once, oldest first, in the order they were sent
    assert [m["message_id"] for m in page["items"]] == posted
    assert [m["text"] for m in page["items"]] == [f"message {i}" for i in range(15)]


def _seed(stream_id: str, n: int, shards: int) -> list[str]:
    """n older messages written straight into their shards (moto copies the whole table on
    every transaction, so posting 50+ through the API is slow)."""
    from chalicelib.core.ddb import serialize
    from chalicelib.core.ids import new_ulid
    from chalicelib.live.chat import shard_for

    ids = []
    for i in range(n):
        message_id = new_ulid()
        item = {
            **keys.chat_message(stream_id, shard_for(message_id, shards), message_id),
            "entity": "chat_message",
            "stream_id": stream_id,
            "message_id": message_id,
            "sender_id": f"old{i}",
            "text": f"old {i}",
            "sent_at": "2026-01-01T00:00:00.000Z",
            "type": "chat",
        }
        clients.dynamodb().put_item(TableName=get_settings().table_name, Item=serialize(item))
        ids.append(message_id)
    return ids


def test_backfill_is_the_last_50(api: ApiClient, clock: Clock, pump: StreamPump) -> None:
    # Given 60 messages over 2 shards, the newest 3 posted by viewers
    stream_id = start_stream(api, expected_peak_msgs_per_second=1000)
    posted = _seed(stream_id, 57, 2) + _post_many(api, clock, stream_id, 3)
    pump.project()
    # When a viewer joins without a cursor
    page = _poll(api, stream_id)
    # Then they get the last 50, oldest first, a cursor, and a polling hint
    assert [m["message_id"] for m in page["items"]] == posted[-50:]
    assert page["next_cursor"] and page["gap"] is False
    assert 1000 <= page["poll_after_ms"] <= 5000


def test_cursor_returns_only_newer_messages_in_order(api: ApiClient, clock: Clock, pump: StreamPump) -> None:
    # Given a viewer who has read the feed
    stream_id = start_stream(api, expected_peak_msgs_per_second=2000)
    _post_many(api, clock, stream_id, 5)
    pump.project()
    cursor = _poll(api, stream_id)["next_cursor"]
    # When 8 more messages arrive (over the 4 shards) and the snapshot refreshes
    newer = _post_many(api, clock, stream_id, 8, start=5)
    clock.advance(1000)
    pump.project()
    page = _poll(api, stream_id, cursor)
    # Then the poll returns exactly the new ones, oldest first
    assert [m["message_id"] for m in page["items"]] == newer and page["gap"] is False
    # And polling again with the new cursor returns nothing new
    assert _poll(api, stream_id, page["next_cursor"])["items"] == []


def test_cursor_is_bound_to_caller_and_stream(api: ApiClient, clock: Clock, pump: StreamPump) -> None:
    stream_id = start_stream(api)
    other = start_stream(api, host="host2")
    cursor = _poll(api, stream_id)["next_cursor"]
    for path, user in ((stream_id, "mallory"), (other, "viewer")):
        response = api.get(f"/v1/streams/{path}/chat?cursor={cursor}", user=user)
        assert response.status_code == 400 and body_of(response)["code"] == "invalid_cursor"
    tampered = api.get(f"/v1/streams/{stream_id}/chat?cursor={cursor[:-2]}xx", user="viewer")
    assert tampered.status_code == 400


def test_snapshot_writes_are_coalesced_but_the_last_messages_arrive(
    api: ApiClient, clock: Clock, pump: StreamPump, aws_calls: CallCounter
) -> None:
    # Given a busy second: 12 posts, each delivered to the projector as its own batch
    stream_id = start_stream(api, room_cap=1000)
    aws_calls.reset()
    posted = []
    for i in range(12):
        posted.append(body_of(post(api, stream_id, f"user{i}", f"m{i}"))["message_id"])
        pump.project()
    # Then the snapshot was written once in that second (by the first batch)
    assert aws_calls.count("PutObject") == 1
    # When the second has passed, the pending marker brings the room back to the projector
    clock.advance(1000)
    pump.project()
    # Then one more write carries every message
    assert aws_calls.count("PutObject") == 2
    assert [m["message_id"] for m in _poll(api, stream_id)["items"]] == posted
    # And a quiet room stops writing: nothing is left pending
    clock.advance(5000)
    before = aws_calls.count("PutObject")
    while pump.project():
        clock.advance(1000)
    assert aws_calls.count("PutObject") == before


def test_snapshot_object_is_public_shape(api: ApiClient, clock: Clock, pump: StreamPump) -> None:
    # Given a message in a room
    stream_id = start_stream(api)
    sent = body_of(post(api, stream_id, "alice", "hello"))
    pump.project()
    # When the CDN fetches the snapshot object
    obj = clients.s3().get_object(Bucket=get_settings().media_bucket, Key=f"live/{stream_id}/chat.json")
    snapshot = json.loads(obj["Body"].read())
    # Then it holds the public message only (no keys, no sender internals)
    assert obj["CacheControl"] == "public, max-age=1"
    assert snapshot["messages"] == [sent] and snapshot["status"] == "live"


def test_product_pinned_system_messages_join_the_feed_in_order(
    api: ApiClient, clock: Clock, pump: StreamPump
) -> None:
    # Given the checkout domain writes a product_pinned message at shard 0 between two chats
    from chalicelib.core.ddb import serialize
    from chalicelib.core.ids import new_ulid

    stream_id = start_stream(api, expected_peak_msgs_per_second=1500)
    first = body_of(post(api, stream_id, "alice", "before"))["message_id"]
    pin_id = new_ulid()
    item = {
        **keys.chat_message(stream_id, 0, pin_id),
        "entity": "chat_message",
        "stream_id": stream_id,
        "message_id": pin_id,
        "sender_id": "host",
        "text": "",
        "sent_at": "2026-01-01T00:00:00.000Z",
        "type": "product_pinned",
        "product": {"product_id": "p1", "title": "Mug"},
    }
    clients.dynamodb().put_item(TableName=get_settings().table_name, Item=serialize(item))
    last = body_of(post(api, stream_id, "bob", "after"))["message_id"]
    pump.project()
    # Then the feed shows it between them, with its product
    items = _poll(api, stream_id)["items"]
    assert [m["message_id"] for m in items] == [first, pin_id, last]
    assert items[1]["type"] == "product_pinned" and items[1]["product"]["title"] == "Mug"
    # And reports can find it, as well as a user message
    from chalicelib.live.lookup import find_chat_message

    assert find_chat_message(stream_id, pin_id)["type"] == "product_pinned"  # type: ignore[index]
    assert find_chat_message(stream_id, last)["text"] == "after"  # type: ignore[index]
    assert find_chat_message(stream_id, new_ulid()) is None


def test_a_post_is_one_aws_call_and_a_poll_is_one_read_whatever_k(
    api: ApiClient, clock: Clock, pump: StreamPump, aws_calls: CallCounter
) -> None:
    for peak in (100, 5000):
        # Given a room of K = ceil(peak / 500) shards whose settings this container has seen
        stream_id = start_stream(api, expected_peak_msgs_per_second=peak)
        post(api, stream_id, "warm", "up")
        for user in ("alice", "viewer"):  # seen recently by the container (deleted-account cache)
            api.get("/v1/me", user=user)
        pump.project()
        for user in ("alice", "viewer"):
            api.get("/v1/me", user=user)  # warm: the caller's once-a-minute activity stamp is written
        # When a viewer posts
        aws_calls.reset()
        assert post(api, stream_id, "alice", "hi").status_code == 201
        # Then that is one TransactWriteItems
        assert aws_calls.calls == ["TransactWriteItems"]
        # When a viewer polls
        aws_calls.reset()
        _poll(api, stream_id)
        # Then that is one S3 GetObject
        assert aws_calls.calls == ["GetObject"]


def test_a_hot_room_grows_its_shards_during_the_stream(
    api: ApiClient, clock: Clock, pump: StreamPump
) -> None:
    # Given a room started small (K = 2) that already has 16 messages
    stream_id = start_stream(api, expected_peak_msgs_per_second=1000)
    before = _post_many(api, clock, stream_id, 16)
    settings = f"/v1/streams/{stream_id}/settings"
    # When someone other than the host tries to resize it; Then 403
    assert api.patch(settings, {"expected_peak_msgs_per_second": 5000}, user="user1").status_code == 403
    # When the host raises the expected peak to 5,000 msgs/s (and the cap with it)
    grown = api.patch(settings, {"expected_peak_msgs_per_second": 5000, "room_cap": 5000}, user="host")
    # Then the room has K = 10 shards and new posts spread over them
    assert grown.status_code == 200 and body_of(grown)["shards"] == 10
    after = _post_many(api, clock, stream_id, 20, start=16)
    assert _shards_used(stream_id, 10) >= 5
    # And a smaller peak later never shrinks it (that would strand messages)
    smaller = api.patch(settings, {"expected_peak_msgs_per_second": 100}, user="host")
    assert body_of(smaller)["shards"] == 10
    # And viewers read old and new messages in one order
    pump.project()
    assert [m["message_id"] for m in _poll(api, stream_id)["items"]] == before + after
    # And a moderator can still delete a message posted before the resize (one that K = 10
    # would look for elsewhere), and one after
    moved = next(m for m in before if shard_for(m, 2) == 1 and shard_for(m, 10) != 1)
    for message_id in (moved, after[5]):
        deleted = api.delete(f"/v1/streams/{stream_id}/chat/{message_id}", user="host")
        assert deleted.status_code == 204, deleted.body
    clock.advance(1000)
    pump.project()
    visible = [m["message_id"] for m in _poll(api, stream_id)["items"]]
    assert moved not in visible and after[5] not in visible and len(visible) == 34
    # When the host ends the stream; Then every shard is closed, old and new
    assert api.post(f"/v1/streams/{stream_id}/end", user="host").status_code == 200
    for i in range(40, 45):
        refused = post(api, stream_id, f"user{i}", "too late")
        assert refused.status_code == 409 and body_of(refused)["code"] == "stream_ended"
    states = [
        clients.dynamodb().get_item(
            TableName=get_settings().table_name,
            Key={k: {"S": v} for k, v in keys.chat_shard_state(stream_id, shard).items()},
            ConsistentRead=True,
        )["Item"]["status"]["S"]
        for shard in range(10)
    ]
    assert states == ["ended"] * 10
    # And an ended room is not resized
    ended = api.patch(settings, {"expected_peak_msgs_per_second": 25000}, user="host")
    assert ended.status_code == 200 and body_of(ended)["shards"] == 10


def test_ending_with_a_stale_k_still_closes_every_shard(api: ApiClient, clock: Clock) -> None:
    # Given a container that read the room at K = 2 just before another one grew it to K = 10
    from chalicelib.live import dal

    stream_id = start_stream(api, expected_peak_msgs_per_second=1000)
    stale = dal.streams().get(stream_id)
    assert stale is not None and stale.shards == 2
    grown = api.patch(
        f"/v1/streams/{stream_id}/settings", {"expected_peak_msgs_per_second": 5000}, user="host"
    )
    assert body_of(grown)["shards"] == 10
    # When the first container ends the stream with what it read
    ended = dal.streams().end(
        stale,
        "2026-11-28T00:00:00.000Z",
        {"message_id": new_ulid(), "sender_id": "host", "type": "stream_ended", "text": ""},
    )
    # Then the stream is ended and all ten shards are closed, not just the two it knew
    assert ended.status == "ended"
    for i in range(5):
        refused = post(api, stream_id, f"late{i}", "hello?")
        assert refused.status_code == 409 and body_of(refused)["code"] == "stream_ended"
    out = clients.dynamodb().batch_get_item(
        RequestItems={
            get_settings().table_name: {
                "Keys": [
                    {k: {"S": v} for k, v in keys.chat_shard_state(stream_id, shard).items()}
                    for shard in range(10)
                ],
                "ConsistentRead": True,
            }
        }
    )
    assert [i["status"]["S"] for i in out["Responses"][get_settings().table_name]] == ["ended"] * 10
