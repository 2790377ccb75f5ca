"""Sharing a video into conversations (groups and direct ones) beside people."""

from __future__ import annotations

from typing import Any

from chalicelib.core import keys
from tests.conftest import ApiClient, body_of
from tests.integration.share.world import befriend, block, count_aws_calls, get_item, publish


def share(
    api: ApiClient, video_id: str, body: dict[str, Any], *, user: str = "alice", key: str = "k1"
) -> Any:
    return api.post(f"/v1/videos/{video_id}/shares", body, user=user, headers={"Idempotency-Key": key})


def conversation(api: ApiClient, user: str, *others: str) -> str:
    body: dict[str, Any] = {"member_ids": list(others)}
    if len(others) > 1:
        body["title"] = "g"
    res = api.post("/v1/conversations", body, user=user)
    assert res.status_code in (200, 201), res.body
    return str(body_of(res)["conversation_id"])


def history(api: ApiClient, cid: str, user: str) -> list[dict[str, Any]]:
    return list(body_of(api.get(f"/v1/conversations/{cid}/messages", user=user))["items"])


def test_a_group_share_beside_a_person(api: ApiClient) -> None:
    # Given alice's group with bob and carol, a direct conversation with erin who then blocked
    # her, a group she is not in, and her friend dave
    publish(api, "v1", author="zoe", title="Cats")
    for friend in ("bob", "carol", "dave", "erin"):
        befriend("alice", friend)
    befriend("bob", "carol")
    group = conversation(api, "alice", "bob", "carol")
    blocked = conversation(api, "alice", "erin")
    block("erin", "alice")
    foreign = conversation(api, "bob", "carol", "dave")
    # When alice shares the video with dave and into the three conversations
    res = share(
        api, "v1", {"recipient_ids": ["dave"], "conversation_ids": [group, blocked, foreign], "note": "ha"}
    )
    # Then one result per target, people as before and conversations by id
    assert res.status_code == 201, res.body
    body = body_of(res)
    person, *convs = body["results"]
    assert person["recipient_id"] == "dave" and person["status"] == "sent"
    assert [(c["conversation_id"], c["status"]) for c in convs] == [
        (group, "sent"),
        (blocked, "not_allowed"),
        (foreign, "not_allowed"),
    ]
    # And the group members see a video_share message from alice with the note
    [message] = history(api, group, "carol")
    assert message["message_id"] == convs[0]["message_id"]
    assert message["type"] == "video_share" and message["text"] == "ha" and message["sender_id"] == "alice"
    assert message["video"]["video_id"] == "v1" and message["video"]["title"] == "Cats"
    # And share_count rose by the two targets sent to
    assert body["share_count"] == 2
    assert body_of(api.get("/v1/videos/v1", user="alice"))["share_count"] == 2
    assert history(api, foreign, "bob") == [] and history(api, blocked, "erin") == []
    # And the same key + body replays; another body is 422
    again = share(
        api, "v1", {"recipient_ids": ["dave"], "conversation_ids": [group, blocked, foreign], "note": "ha"}
    )
    assert body_of(again) == body
    other = share(api, "v1", {"recipient_ids": ["dave"], "conversation_ids": [group]})
    assert other.status_code == 422
    assert len(history(api, group, "bob")) == 1


def test_targets_are_counted_together(api: ApiClient) -> None:
    publish(api, "v1")
    cids = [f"{i:026d}" for i in range(11)]
    people = [f"p{i}" for i in range(10)]
    bodies: list[dict[str, Any]] = [
        {"recipient_ids": [], "conversation_ids": []},
        {"recipient_ids": people, "conversation_ids": cids},
        {"conversation_ids": [cids[0], cids[0]]},
    ]
    for body in bodies:
        res = share(api, "v1", body)
        assert res.status_code == 400 and body_of(res)["code"] == "validation_error"
    # A share into conversations only is fine (unknown ones are not_allowed)
    res = share(api, "v1", {"conversation_ids": cids[:2]}, key="k2")
    assert res.status_code == 201
    assert [r["status"] for r in body_of(res)["results"]] == ["not_allowed", "not_allowed"]
    assert get_item(keys.video("v1"))["share_count"] == 0  # type: ignore[index]


def test_a_share_to_20_mixed_targets_takes_at_most_4_calls(api: ApiClient) -> None:
    # Given 10 friends without a conversation yet and 10 groups of alice's
    publish(api, "v1")
    people = [f"p{i:02d}" for i in range(10)]
    for p in people:
        befriend("alice", p)
    groups = []
    for i in range(10):
        befriend("alice", f"g{i}a")
        befriend("alice", f"g{i}b")
        groups.append(conversation(api, "alice", f"g{i}a", f"g{i}b"))
    with count_aws_calls() as calls:
        res = share(api, "v1", {"recipient_ids": people, "conversation_ids": groups})
    assert res.status_code == 201
    assert all(r["status"] == "sent" for r in body_of(res)["results"])
    assert body_of(res)["share_count"] == 20
    assert len(calls) <= 4, calls
