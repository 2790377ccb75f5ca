""" "Active now" over HTTP against moto: friends list, conversation members, settings, blocks."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.core import clients, keys
from chalicelib.core.ddb import serialize, values
from chalicelib.core.settings import get_settings
from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import block, count_calls


def befriend_via(api: ApiClient, a: str, b: str) -> None:
    """Mutual follows through the API (the friends list is written by the follow route)."""
    assert api.put(f"/v1/users/{b}/follow", user=a).status_code == 204
    assert api.put(f"/v1/users/{a}/follow", user=b).status_code == 204


def friends(api: ApiClient, user: str) -> dict[str, dict[str, Any]]:
    res = api.get("/v1/me/friends", user=user)
    assert res.status_code == 200, res.body
    return {i["user_id"]: i for i in body_of(res)["items"]}


def stamp(user: str, last_active_ms: int) -> None:
    """Set a user's activity stamp as an earlier request would have."""
    clients.dynamodb().update_item(
        TableName=get_settings().table_name,
        Key=serialize(keys.profile(user)),
        UpdateExpression="SET last_active_at = :t",
        ExpressionAttributeValues=values(t=last_active_ms),
    )


def settings(api: ApiClient, user: str, **body: Any) -> Any:
    return api.patch("/v1/me/settings", body, user=user)


def test_a_friend_who_made_a_request_shows_active(api: ApiClient) -> None:
    # Given friends alice and bob, and bob just used the app
    befriend_via(api, "alice", "bob")  # bob's follow request just now counts as activity
    before = int(time.time() * 1000) - 60_000
    # When alice lists her friends
    bob = friends(api, "alice")["bob"]
    # Then bob is active, last seen just now
    assert bob["active"] is True
    assert before <= bob["last_active_at"] <= int(time.time() * 1000)


def test_after_five_minutes_a_friend_is_no_longer_active(api: ApiClient) -> None:
    befriend_via(api, "alice", "bob")
    six_minutes_ago = int(time.time() * 1000) - 6 * 60 * 1000
    stamp("bob", six_minutes_ago)
    bob = friends(api, "alice")["bob"]
    assert bob == {**bob, "active": False, "last_active_at": six_minutes_ago}
    never = friends(api, "bob")["alice"]  # alice's request just now counts
    assert never["active"] is True


def test_turning_it_off_hides_both_ways(api: ApiClient) -> None:
    # Given active friends alice and bob
    befriend_via(api, "alice", "bob")
    api.get("/v1/me", user="alice")
    api.get("/v1/me", user="bob")
    assert friends(api, "alice")["bob"]["active"] is True
    # When bob turns his activity status off
    res = settings(api, "bob", show_activity_status=False)
    assert res.status_code == 200 and body_of(res)["show_activity_status"] is False
    # Then alice no longer sees his, and he no longer sees hers (reciprocal)
    for viewer, other in (("alice", "bob"), ("bob", "alice")):
        seen = friends(api, viewer)[other]
        assert seen["active"] is False and seen["last_active_at"] is None
    assert body_of(api.get("/v1/me", user="bob"))["show_activity_status"] is False
    # And turning it back on shows both again
    settings(api, "bob", show_activity_status=True)
    assert friends(api, "alice")["bob"]["active"] is True
    assert settings(api, "bob", show_activity_status="no").status_code == 400


def test_conversation_members_show_presence_but_never_across_a_block(api: ApiClient) -> None:
    # Given a group of alice, bob and carol, all active, and carol blocked alice
    for friend in ("bob", "carol"):
        befriend_via(api, "alice", friend)
    res = api.post("/v1/conversations", {"member_ids": ["bob", "carol"], "title": "g"}, user="alice")
    cid = body_of(res)["conversation_id"]
    for user in ("bob", "carol"):
        api.get("/v1/me", user=user)
    block("carol", "alice")
    # When alice and bob look at the conversation
    members = {m["user_id"]: m for m in body_of(api.get(f"/v1/conversations/{cid}", user="alice"))["members"]}
    by_bob = {m["user_id"]: m for m in body_of(api.get(f"/v1/conversations/{cid}", user="bob"))["members"]}
    # Then alice sees bob active but nothing of carol; bob sees both
    assert members["bob"]["active"] is True
    assert members["carol"]["active"] is False and members["carol"]["last_active_at"] is None
    assert by_bob["carol"]["active"] is True and by_bob["alice"]["active"] is True


def test_activity_is_written_at_most_once_a_minute_and_pages_stay_cheap(api: ApiClient) -> None:
    befriend_via(api, "alice", "bob")
    api.get("/v1/me", user="alice")
    # Further requests within the minute write nothing for activity
    with count_calls() as calls:
        friends(api, "alice")
    assert "UpdateItem" not in calls
    assert len(calls) <= 3, calls  # the friends page with presence
