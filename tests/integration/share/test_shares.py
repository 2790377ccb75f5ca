"""POST /v1/videos/{id}/shares: outcomes per recipient, visibility, idempotency, AWS call budget."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core import keys
from tests.conftest import ApiClient, body_of
from tests.integration.share.world import (
    befriend,
    block,
    count_aws_calls,
    get_item,
    messages_in,
    publish,
)


def share(
    api: ApiClient, video_id: str, body: dict[str, Any], *, user: str = "alice", key: str = "k1"
) -> Any:
    """POST a share with an Idempotency-Key."""
    return api.post(f"/v1/videos/{video_id}/shares", body, user=user, headers={"Idempotency-Key": key})


def by_recipient(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Results keyed by recipient."""
    return {r["recipient_id"]: r for r in body["results"]}


def test_share_to_friend_non_friend_and_blocker_in_one_call(api: ApiClient) -> None:
    # Given alice's friend bob, a stranger dave (default policy: requests), and erin who blocked alice
    publish(api, "v1", author="carol", title="Cats", thumbnail_key="thumbs/v1.jpg")
    befriend("alice", "bob")
    block("erin", "alice")
    # When alice shares the video with all three and a note
    response = share(api, "v1", {"recipient_ids": ["bob", "dave", "erin"], "note": "look!"})
    # Then bob gets it, dave gets a request, erin is not allowed (without a reason)
    assert response.status_code == 201
    body = body_of(response)
    results = by_recipient(body)
    assert results["bob"]["status"] == "sent"
    assert results["dave"]["status"] == "request"
    assert results["erin"] == {"recipient_id": "erin", "status": "not_allowed"}
    assert body["video_id"] == "v1" and body["share_count"] == 2 and body["share_id"]
    # And a video_share message with the note sits in each direct conversation
    for rid in ("bob", "dave"):
        [message] = messages_in(results[rid]["conversation_id"])
        assert message["message_id"] == results[rid]["message_id"]
        assert message["type"] == "video_share" and message["text"] == "look!"
        assert message["sender_id"] == "alice"
        assert message["video"] == {
            "video_id": "v1",
            "title": "Cats",
            "author_id": "carol",
            "thumbnail_key": "thumbs/v1.jpg",
        }
    # And dave's copy is in his requests folder, bob's in his inbox
    dave_member = get_item(keys.member(results["dave"]["conversation_id"], "dave"))
    bob_member = get_item(keys.member(results["bob"]["conversation_id"], "bob"))
    assert dave_member and dave_member["status"] == "request"
    assert bob_member and bob_member["status"] == "active"
    # And the video's share_count rose by two
    assert body_of(api.get("/v1/videos/v1", user="alice"))["share_count"] == 2


def test_second_share_reuses_the_existing_direct_conversation(api: ApiClient) -> None:
    publish(api, "v1")
    publish(api, "v2")
    befriend("alice", "bob")
    first = by_recipient(body_of(share(api, "v1", {"recipient_ids": ["bob"]}, key="a")))
    second = by_recipient(body_of(share(api, "v2", {"recipient_ids": ["bob"]}, key="b")))
    assert first["bob"]["conversation_id"] == second["bob"]["conversation_id"]
    assert len(messages_in(first["bob"]["conversation_id"])) == 2


def test_friends_only_video_goes_only_to_people_who_may_see_it(api: ApiClient) -> None:
    # Given carol's friends-only video; alice and bob are carol's friends, dave is alice's friend only
    publish(api, "vf", author="carol", visibility="friends")
    befriend("carol", "alice")
    befriend("carol", "bob")
    befriend("alice", "bob")
    befriend("alice", "dave")
    # When alice shares it with bob, dave and carol herself
    body = body_of(share(api, "vf", {"recipient_ids": ["bob", "dave", "carol"]}))
    # Then bob and carol get it, dave (cannot see the video) does not
    results = by_recipient(body)
    assert [results[r]["status"] for r in ("bob", "dave", "carol")] == ["sent", "not_allowed", "sent"]
    assert body["share_count"] == 2


def test_friends_only_video_cannot_be_shared_by_a_non_friend(api: ApiClient) -> None:
    publish(api, "vf", author="carol", visibility="friends")
    befriend("dave", "bob")
    response = share(api, "vf", {"recipient_ids": ["bob"]}, user="dave")
    assert response.status_code == 404
    assert body_of(response)["code"] == "not_found"


def test_private_video_only_its_author_may_share_and_nobody_may_receive(api: ApiClient) -> None:
    publish(api, "vp", author="carol", visibility="private")
    befriend("carol", "alice")
    assert share(api, "vp", {"recipient_ids": ["carol"]}, user="alice").status_code == 404
    body = body_of(share(api, "vp", {"recipient_ids": ["alice"]}, user="carol"))
    assert body["results"] == [{"recipient_id": "alice", "status": "not_allowed"}]
    assert body["share_count"] == 0


def test_unknown_or_deleted_video_is_404(api: ApiClient) -> None:
    befriend("alice", "bob")
    assert share(api, "ghost", {"recipient_ids": ["bob"]}).status_code == 404
    publish(api, "vd", occurred_at="2026-11-28T01:00:00.000Z")
    publish(api, "vd", kind="video.deleted", occurred_at="2026-11-28T02:00:00.000Z")
    assert share(api, "vd", {"recipient_ids": ["bob"]}).status_code == 404


def test_sharing_to_yourself_is_not_allowed(api: ApiClient) -> None:
    publish(api, "v1")
    body = body_of(share(api, "v1", {"recipient_ids": ["alice"]}))
    assert body["results"] == [{"recipient_id": "alice", "status": "not_allowed"}]


def test_retry_with_same_key_and_body_replays_without_doubling(api: ApiClient) -> None:
    # Given a share alice already made
    publish(api, "v1")
    befriend("alice", "bob")
    first = share(api, "v1", {"recipient_ids": ["bob", "dave"], "note": "hi"})
    # When she retries with the same key and body
    again = share(api, "v1", {"recipient_ids": ["bob", "dave"], "note": "hi"})
    # Then she gets the original response, and nothing was written twice
    assert again.status_code == 201
    assert body_of(again) == body_of(first)
    results = by_recipient(body_of(first))
    assert len(messages_in(results["bob"]["conversation_id"])) == 1
    assert len(messages_in(results["dave"]["conversation_id"])) == 1
    assert body_of(api.get("/v1/videos/v1", user="alice"))["share_count"] == 2


def test_same_key_with_a_different_body_is_422(api: ApiClient) -> None:
    publish(api, "v1")
    befriend("alice", "bob")
    share(api, "v1", {"recipient_ids": ["bob"]})
    response = share(api, "v1", {"recipient_ids": ["bob"], "note": "changed"})
    assert response.status_code == 422
    assert body_of(response)["code"] == "idempotency_key_reused"
    assert body_of(api.get("/v1/videos/v1", user="alice"))["share_count"] == 1


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, {"recipient_ids": ["bob"]}),
        ({"Idempotency-Key": "x" * 256}, {"recipient_ids": ["bob"]}),
        ({"Idempotency-Key": "k"}, {"recipient_ids": []}),
        ({"Idempotency-Key": "k"}, {"recipient_ids": [f"u{i}" for i in range(21)]}),
        ({"Idempotency-Key": "k"}, {"recipient_ids": ["bob", "bob"]}),
        ({"Idempotency-Key": "k"}, {"recipient_ids": ["bob"], "note": "x" * 501}),
        ({"Idempotency-Key": "k"}, {"recipient_ids": ["bob"], "extra": True}),
        ({"Idempotency-Key": "k"}, {"recipient_ids": "bob"}),
        ({"Idempotency-Key": "k"}, {"recipient_ids": [""]}),
    ],
)
def test_bad_requests_are_400_and_write_nothing(api: ApiClient, headers: dict[str, str], body: Any) -> None:
    publish(api, "v1")
    befriend("alice", "bob")
    response = api.post("/v1/videos/v1/shares", body, user="alice", headers=headers)
    assert response.status_code == 400
    assert body_of(response)["code"] == "validation_error"
    assert body_of(api.get("/v1/videos/v1", user="alice"))["share_count"] == 0


def test_malformed_json_is_400(api: ApiClient) -> None:
    publish(api, "v1")
    response = api.request(
        "POST", "/v1/videos/v1/shares", user="alice", headers={"Idempotency-Key": "k"}, raw="{nope"
    )
    assert response.status_code == 400


def test_share_requires_auth(api: ApiClient) -> None:
    response = api.post("/v1/videos/v1/shares", {"recipient_ids": ["bob"]}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 401


@pytest.mark.parametrize(("count", "existing"), [(1, False), (5, False), (20, False), (20, True)])
def test_share_costs_at_most_four_aws_calls(
    api: ApiClient, count: int, existing: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a clock that puts each share in a new rate window (a 20-recipient share fills one)
    import itertools

    from chalicelib.share import api as share_api

    ticks = itertools.count(1_800_000_000_000, 5_000)
    monkeypatch.setattr(share_api, "now_ms", lambda: next(ticks))
    # And a friends-only video shared by a non-author (the most reads) to `count` friends
    publish(api, "vf", author="carol", visibility="friends")
    befriend("carol", "alice")
    friends = [f"f{i:02d}" for i in range(count)]
    for f in friends:
        befriend("alice", f)
        befriend("carol", f)
    if existing:  # direct conversations already exist (fewer writes)
        share(api, "vf", {"recipient_ids": friends}, key="warm-up")
    api.get("/v1/me", user="alice")  # warm: the caller's once-a-minute activity stamp is written
    # When alice shares it with all of them
    with count_aws_calls() as calls:
        response = share(api, "vf", {"recipient_ids": friends}, key="measured")
    # Then every friend got it, in at most 4 AWS calls whatever the count
    assert response.status_code == 201
    assert all(r["status"] == "sent" for r in body_of(response)["results"])
    assert len(calls) <= 4, calls
    expected_tx = 2 if count == 20 and not existing else 1
    assert calls.count("TransactWriteItems") == expected_tx
    assert calls.count("BatchGetItem") == 2


def test_partial_failure_between_two_transactions_is_finished_by_a_retry(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a 20-recipient share (two transactions) whose second transaction fails once
    from chalicelib.core.errors import UnavailableError
    from chalicelib.share import dal

    publish(api, "v1")
    friends = [f"f{i:02d}" for i in range(20)]
    for f in friends:
        befriend("alice", f)
    original = dal.DynamoShares._finish

    def failing_finish(self: Any, *args: Any) -> None:
        raise UnavailableError("boom")

    monkeypatch.setattr(dal.DynamoShares, "_finish", failing_finish)
    failed = share(api, "v1", {"recipient_ids": friends})
    assert failed.status_code == 503
    monkeypatch.setattr(dal.DynamoShares, "_finish", original)
    # When the client retries with the same key and body
    retried = share(api, "v1", {"recipient_ids": friends})
    # Then the share completes: every friend has exactly one message, share_count counted once
    assert retried.status_code == 201
    results = body_of(retried)["results"]
    assert all(r["status"] == "sent" for r in results)
    for r in results:
        assert [m["message_id"] for m in messages_in(r["conversation_id"])] == [r["message_id"]]
    assert body_of(api.get("/v1/videos/v1", user="alice"))["share_count"] == 20
    # And a further retry replays the same response
    assert body_of(share(api, "v1", {"recipient_ids": friends})) == body_of(retried)
