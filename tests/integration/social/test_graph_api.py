"""Social graph over HTTP against moto: follows, friends, blocks, settings, lists."""

from __future__ import annotations

from typing import Any

from chalicelib.social.access import Reach, can_message
from chalicelib.social.dal import graph
from tests.conftest import ApiClient, body_of


def me(api: ApiClient, user: str) -> dict[str, Any]:
    response = api.get("/v1/me", user=user)
    assert response.status_code == 200
    body: dict[str, Any] = body_of(response)
    return body


def relationship(api: ApiClient, user: str, other: str) -> dict[str, Any]:
    response = api.get(f"/v1/users/{other}/relationship", user=user)
    assert response.status_code == 200
    body: dict[str, Any] = body_of(response)
    return body


def listed(api: ApiClient, user: str, path: str) -> list[str]:
    response = api.get(path, user=user)
    assert response.status_code == 200
    return [i["user_id"] for i in body_of(response)["items"]]


def test_new_user_sees_defaults(api: ApiClient) -> None:
    # When a user who never did anything asks for their profile
    body = me(api, "newbie")
    # Then they see the defaults
    assert body == {
        "user_id": "newbie",
        "dm_policy": "friends",
        "push_previews": True,
        "show_activity_status": True,
        "followers_count": 0,
        "following_count": 0,
        "friends_count": 0,
    }


def test_me_requires_a_token(api: ApiClient) -> None:
    # When
    response = api.get("/v1/me")
    # Then
    assert response.status_code == 401
    assert body_of(response)["code"] == "unauthorized"


def test_mutual_follow_makes_friends_and_unfollow_breaks_it(api: ApiClient) -> None:
    # Given alice follows bob
    assert api.put("/v1/users/bob/follow", user="alice").status_code == 204
    assert relationship(api, "alice", "bob") == {
        "following": True,
        "followed_by": False,
        "friends": False,
        "blocked": False,
    }
    # When bob follows back
    assert api.put("/v1/users/alice/follow", user="bob").status_code == 204
    # Then they are friends, with exact counters and lists
    assert relationship(api, "alice", "bob")["friends"] is True
    assert me(api, "alice") | {"dm_policy": None} == {
        "user_id": "alice",
        "dm_policy": None,
        "push_previews": True,
        "show_activity_status": True,
        "followers_count": 1,
        "following_count": 1,
        "friends_count": 1,
    }
    assert listed(api, "alice", "/v1/me/friends") == ["bob"]
    assert listed(api, "bob", "/v1/me/friends") == ["alice"]
    # When alice unfollows bob
    assert api.delete("/v1/users/bob/follow", user="alice").status_code == 204
    # Then they are no longer friends, bob still follows alice
    assert relationship(api, "alice", "bob") == {
        "following": False,
        "followed_by": True,
        "friends": False,
        "blocked": False,
    }
    assert me(api, "alice")["friends_count"] == 0
    assert me(api, "bob")["friends_count"] == 0
    assert me(api, "bob")["followers_count"] == 0
    assert listed(api, "alice", "/v1/me/friends") == []
    assert listed(api, "alice", "/v1/me/followers") == ["bob"]


def test_repeated_follow_and_unfollow_keep_counts_exact(api: ApiClient) -> None:
    # When carol follows dave three times
    for _ in range(3):
        assert api.put("/v1/users/dave/follow", user="carol").status_code == 204
    # Then dave has one follower
    assert me(api, "dave")["followers_count"] == 1
    assert listed(api, "dave", "/v1/me/followers") == ["carol"]
    # When carol unfollows twice
    for _ in range(2):
        assert api.delete("/v1/users/dave/follow", user="carol").status_code == 204
    # Then counts are back to zero, not negative
    assert me(api, "dave")["followers_count"] == 0
    assert me(api, "carol")["following_count"] == 0


def test_following_yourself_is_rejected(api: ApiClient) -> None:
    # When
    response = api.put("/v1/users/alice/follow", user="alice")
    # Then
    assert response.status_code == 400
    assert body_of(response)["code"] == "validation_error"
    assert me(api, "alice")["following_count"] == 0


def test_block_removes_follows_both_ways_and_denies_messaging(api: ApiClient) -> None:
    # Given alice and bob are friends and both have set DMs open to everyone
    api.put("/v1/users/bob/follow", user="alice")
    api.put("/v1/users/alice/follow", user="bob")
    for user in ("alice", "bob"):
        api.patch("/v1/me/settings", {"dm_policy": "everyone"}, user=user)
    # When alice blocks bob
    assert api.put("/v1/users/bob/block", user="alice").status_code == 204
    # Then no follow remains, counters are zero, and messaging is denied both ways
    assert relationship(api, "alice", "bob") == {
        "following": False,
        "followed_by": False,
        "friends": False,
        "blocked": True,
    }
    for user in ("alice", "bob"):
        body = me(api, user)
        assert (body["followers_count"], body["following_count"], body["friends_count"]) == (0, 0, 0)
    assert can_message(graph(), "alice", "bob") is Reach.DENIED
    assert can_message(graph(), "bob", "alice") is Reach.DENIED
    assert listed(api, "alice", "/v1/me/blocks") == ["bob"]


def test_blocked_user_cannot_follow_and_does_not_learn_about_the_block(api: ApiClient) -> None:
    # Given alice blocked bob
    api.put("/v1/users/bob/block", user="alice")
    # When bob tries to follow alice, and alice tries to follow bob
    by_bob = api.put("/v1/users/alice/follow", user="bob")
    by_alice = api.put("/v1/users/bob/follow", user="alice")
    # Then both are forbidden
    assert (by_bob.status_code, body_of(by_bob)["code"]) == (403, "forbidden")
    assert (by_alice.status_code, body_of(by_alice)["code"]) == (403, "forbidden")
    # And bob's view of alice says nothing about the block
    assert relationship(api, "bob", "alice")["blocked"] is False


def test_unblock_allows_following_again_and_is_idempotent(api: ApiClient) -> None:
    # Given alice blocked bob twice (idempotent)
    assert api.put("/v1/users/bob/block", user="alice").status_code == 204
    assert api.put("/v1/users/bob/block", user="alice").status_code == 204
    # When alice unblocks twice
    assert api.delete("/v1/users/bob/block", user="alice").status_code == 204
    assert api.delete("/v1/users/bob/block", user="alice").status_code == 204
    # Then bob can follow alice again
    assert api.put("/v1/users/alice/follow", user="bob").status_code == 204
    assert listed(api, "alice", "/v1/me/blocks") == []
    assert me(api, "alice")["followers_count"] == 1


def test_settings_patch_changes_policy_and_previews(api: ApiClient) -> None:
    # When
    response = api.patch("/v1/me/settings", {"dm_policy": "no_one"}, user="alice")
    # Then
    assert response.status_code == 200
    assert body_of(response) == {"dm_policy": "no_one", "push_previews": True, "show_activity_status": True}
    # When only push_previews changes, the policy stays
    response = api.patch("/v1/me/settings", {"push_previews": False}, user="alice")
    assert body_of(response) == {"dm_policy": "no_one", "push_previews": False, "show_activity_status": True}
    assert me(api, "alice")["dm_policy"] == "no_one"
    assert me(api, "alice")["push_previews"] is False


def test_settings_patch_rejects_bad_bodies(api: ApiClient) -> None:
    bad: list[dict[str, Any]] = [
        {},
        {"dm_policy": "anyone"},
        {"dm_policy": "friends", "is_admin": True},
        {"push_previews": "yes"},
    ]
    for body in bad:
        # When
        response = api.patch("/v1/me/settings", body, user="alice")
        # Then
        assert response.status_code == 400, body
        assert body_of(response)["code"] == "validation_error"
    malformed = api.patch("/v1/me/settings", raw="{not json", user="alice")
    assert malformed.status_code == 400
    assert me(api, "alice")["dm_policy"] == "friends"


def test_lists_are_newest_first_and_paginate(api: ApiClient) -> None:
    # Given five users follow zed, one after the other
    fans = [f"fan{i}" for i in range(5)]
    for fan in fans:
        api.put("/v1/users/zed/follow", user=fan)
    # When zed pages through followers two at a time
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        path = "/v1/me/followers?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = api.get(path, user="zed")
        assert response.status_code == 200
        body = body_of(response)
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    # Then everyone appears once, newest first, each with an ISO timestamp
    assert [i["user_id"] for i in seen] == list(reversed(fans))
    assert pages == 3
    assert all(i["since"].endswith("Z") and "T" in i["since"] for i in seen)


def test_tampered_or_foreign_cursor_is_rejected(api: ApiClient) -> None:
    # Given zed has a cursor for their followers list
    for fan in ("f1", "f2", "f3"):
        api.put("/v1/users/zed/follow", user=fan)
    cursor = body_of(api.get("/v1/me/followers?limit=1", user="zed"))["next_cursor"]
    assert cursor
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    # When the cursor is tampered with, used on another list, or by another user
    attempts = [
        api.get(f"/v1/me/followers?cursor={tampered}", user="zed"),
        api.get(f"/v1/me/following?cursor={cursor}", user="zed"),
        api.get(f"/v1/me/followers?cursor={cursor}", user="f1"),
        api.get("/v1/me/followers?cursor=garbage", user="zed"),
    ]
    # Then each is a 400 invalid_cursor
    for response in attempts:
        assert response.status_code == 400
        assert body_of(response)["code"] == "invalid_cursor"


def test_bad_limit_is_rejected(api: ApiClient) -> None:
    response = api.get("/v1/me/following?limit=1000", user="alice")
    assert response.status_code == 400
    assert body_of(response)["code"] == "validation_error"


def test_over_long_user_id_is_rejected(api: ApiClient) -> None:
    response = api.put("/v1/users/" + "x" * 129 + "/follow", user="alice")
    assert response.status_code == 400
    assert me(api, "alice")["following_count"] == 0
