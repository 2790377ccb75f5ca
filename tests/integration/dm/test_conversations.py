"""Creating direct and group conversations, members, mute, leave (HTTP, moto in-process)."""

from __future__ import annotations

import time

from chalicelib.core import clients, keys
from chalicelib.core.ddb import deserialize, serialize
from chalicelib.core.settings import get_settings
from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import befriend, block, set_policy


def test_direct_conversation_is_canonical_per_pair(api: ApiClient) -> None:
    # Given friends alice and bob
    befriend("alice", "bob")
    # When alice opens a conversation with bob, then bob with alice
    first = api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice")
    second = api.post("/v1/conversations", {"member_ids": ["alice"]}, user="bob")
    # Then the first is created (201) and the second returns the same conversation (200)
    assert first.status_code == 201 and second.status_code == 200
    a, b = body_of(first), body_of(second)
    assert a["conversation_id"] == b["conversation_id"]
    assert a["kind"] == "direct" and a["status"] == "active" and a["muted"] is False
    assert {m["user_id"] for m in a["members"]} == {"alice", "bob"}
    assert a["created_at"].endswith("Z")
    # And both see it with GET
    got = body_of(api.get(f"/v1/conversations/{a['conversation_id']}", user="bob"))
    assert got["conversation_id"] == a["conversation_id"]


def test_group_refuses_members_the_creator_may_not_message(api: ApiClient) -> None:
    # Given bob is a friend, carol a stranger (request), dave blocked alice, erin accepts no one
    befriend("alice", "bob")
    block("dave", "alice")
    set_policy("erin", "no_one")
    # When alice creates a group with all of them
    res = api.post(
        "/v1/conversations", {"member_ids": ["bob", "carol", "dave", "erin"], "title": "Trip"}, user="alice"
    )
    # Then dave and erin are not added, carol gets it as a request, alice is admin
    assert res.status_code == 201
    group = body_of(res)
    assert group["kind"] == "group" and group["title"] == "Trip"
    assert sorted(group["not_added"]) == ["dave", "erin"]
    roles = {m["user_id"]: m["role"] for m in group["members"]}
    assert roles == {"alice": "admin", "bob": "member", "carol": "member"}
    cid = group["conversation_id"]
    assert body_of(api.get(f"/v1/conversations/{cid}", user="carol"))["status"] == "request"
    assert api.get(f"/v1/conversations/{cid}", user="dave").status_code == 404


def test_group_creation_retried_with_its_idempotency_key_creates_one_group(api: ApiClient) -> None:
    # Given alice's friends bob and carol
    befriend("alice", "bob")
    befriend("alice", "carol")
    body = {"member_ids": ["bob", "carol"], "title": "Weekend"}
    key = {"Idempotency-Key": "group-weekend-1"}
    # When the app creates the group and retries after a lost response
    first = api.post("/v1/conversations", body, user="alice", headers=key)
    again = api.post("/v1/conversations", body, user="alice", headers=key)
    # Then both answers are the same group and bob's inbox holds only one
    assert first.status_code == 201 and again.status_code == 201
    assert body_of(again) == body_of(first)
    from tests.integration.dm.support import StreamPump

    StreamPump().pump()
    inbox = body_of(api.get("/v1/conversations", user="bob"))["items"]
    assert [c["conversation_id"] for c in inbox if c["kind"] == "group"] == [
        body_of(first)["conversation_id"]
    ]
    # When the same key comes with another body; Then 422 and no second group
    other = api.post("/v1/conversations", {**body, "title": "Other"}, user="alice", headers=key)
    assert other.status_code == 422 and body_of(other)["code"] == "idempotency_key_reused"
    # And another key is another group; a blank key is refused
    fresh = api.post("/v1/conversations", body, user="alice", headers={"Idempotency-Key": "group-weekend-2"})
    assert fresh.status_code == 201
    assert body_of(fresh)["conversation_id"] != body_of(first)["conversation_id"]
    blank = api.post("/v1/conversations", body, user="alice", headers={"Idempotency-Key": " "})
    assert blank.status_code == 400 and body_of(blank)["code"] == "validation_error"


def test_group_idempotency_record_stores_the_response_as_a_map_that_expires_in_a_day(api: ApiClient) -> None:
    # Given alice creates a group with an Idempotency-Key
    befriend("alice", "bob")
    befriend("alice", "carol")
    before = int(time.time())
    created = api.post(
        "/v1/conversations",
        {"member_ids": ["bob", "carol"], "title": "Trip"},
        user="alice",
        headers={"Idempotency-Key": "group-trip"},
    )
    assert created.status_code == 201
    # Then its key record holds the response as a map and a TTL a day from now
    key = serialize(keys.idempotency("alice", "dm.group", "group-trip"))
    raw = clients.dynamodb().get_item(TableName=get_settings().table_name, Key=key)["Item"]
    assert "M" in raw["response"]
    record = deserialize(raw) or {}
    assert record["response"] == body_of(created)
    assert before + 24 * 3600 <= record[keys.TTL] <= int(time.time()) + 24 * 3600


def test_group_size_and_input_limits(api: ApiClient) -> None:
    too_many = [f"user{i}" for i in range(32)]
    assert api.post("/v1/conversations", {"member_ids": too_many}, user="alice").status_code == 400
    assert api.post("/v1/conversations", {"member_ids": []}, user="alice").status_code == 400
    assert api.post("/v1/conversations", {"member_ids": ["alice"]}, user="alice").status_code == 400
    extra = api.post("/v1/conversations", {"member_ids": ["bob"], "owner": "x"}, user="alice")
    assert extra.status_code == 400 and body_of(extra)["code"] == "validation_error"


def test_admin_adds_and_removes_members_others_may_only_leave(api: ApiClient) -> None:
    # Given alice's group with bob and carol (all friends of alice)
    for friend in ("bob", "carol", "dave"):
        befriend("alice", friend)
    group = body_of(api.post("/v1/conversations", {"member_ids": ["bob", "carol"]}, user="alice"))
    cid = group["conversation_id"]
    # When bob (not admin) tries to add or remove someone; Then 403
    assert api.post(f"/v1/conversations/{cid}/members", {"user_ids": ["dave"]}, user="bob").status_code == 403
    assert api.delete(f"/v1/conversations/{cid}/members/carol", user="bob").status_code == 403
    # When alice adds dave; Then dave is a member
    added = api.post(f"/v1/conversations/{cid}/members", {"user_ids": ["dave"]}, user="alice")
    assert added.status_code == 200
    assert "dave" in {m["user_id"] for m in body_of(added)["members"]}
    assert api.get(f"/v1/conversations/{cid}", user="dave").status_code == 200
    # When alice removes carol and bob leaves
    assert api.delete(f"/v1/conversations/{cid}/members/carol", user="alice").status_code == 204
    assert api.delete(f"/v1/conversations/{cid}", user="bob").status_code == 204
    # Then neither can see it any more
    assert api.get(f"/v1/conversations/{cid}", user="carol").status_code == 404
    assert api.get(f"/v1/conversations/{cid}/messages", user="bob").status_code == 404
    members = {m["user_id"] for m in body_of(api.get(f"/v1/conversations/{cid}", user="alice"))["members"]}
    assert members == {"alice", "dave"}


def test_direct_conversation_members_are_fixed(api: ApiClient) -> None:
    befriend("alice", "bob")
    cid = body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))["conversation_id"]
    res = api.post(f"/v1/conversations/{cid}/members", {"user_ids": ["carol"]}, user="alice")
    assert res.status_code == 409 and body_of(res)["code"] == "conflict"


def test_mute_is_per_member(api: ApiClient) -> None:
    befriend("alice", "bob")
    cid = body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))["conversation_id"]
    res = api.put(f"/v1/conversations/{cid}/mute", {"muted": True}, user="bob")
    assert res.status_code == 200 and body_of(res) == {"conversation_id": cid, "muted": True}
    assert body_of(api.get(f"/v1/conversations/{cid}", user="bob"))["muted"] is True
    assert body_of(api.get(f"/v1/conversations/{cid}", user="alice"))["muted"] is False
    assert api.put(f"/v1/conversations/{cid}/mute", {"muted": True}, user="mallory").status_code == 404
    assert api.put(f"/v1/conversations/{cid}/mute", {"muted": "yes"}, user="bob").status_code == 400
