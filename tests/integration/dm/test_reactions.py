"""Reactions over HTTP (moto in-process): idempotent PUT/DELETE, one emoji, 30 distinct, views."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import StreamPump, befriend, count_calls

THUMBS = "👍"
FAMILY = "👨\u200d👩\u200d👧"  # one ZWJ sequence
THUMBS_DARK = "👍🏿"  # with a skin tone


def _group(api: ApiClient, admin: str, *others: str) -> str:
    for other in others:
        befriend(admin, other)
    res = api.post("/v1/conversations", {"member_ids": list(others), "title": "g"}, user=admin)
    assert res.status_code == 201, res.body
    return str(body_of(res)["conversation_id"])


def _send(api: ApiClient, cid: str, user: str, text: str) -> str:
    res = api.post(f"/v1/conversations/{cid}/messages", {"client_message_id": text, "text": text}, user=user)
    assert res.status_code == 201, res.body
    return str(body_of(res)["message_id"])


def _path(cid: str, mid: str, emoji: str) -> str:
    return f"/v1/conversations/{cid}/messages/{mid}/reactions/{quote(emoji)}"


def _history(api: ApiClient, cid: str, user: str) -> list[dict[str, Any]]:
    return list(body_of(api.get(f"/v1/conversations/{cid}/messages", user=user))["items"])


def test_reactions_show_counts_me_and_first_use_order(api: ApiClient) -> None:
    # Given a group message
    cid = _group(api, "alice", "bob", "carol")
    mid = _send(api, cid, "alice", "hello")
    # When bob reacts 👍 then the family, carol 👍 twice (idempotent) and a skin-toned thumb
    for user, emoji in (("bob", THUMBS), ("bob", FAMILY), ("carol", THUMBS), ("carol", THUMBS)):
        assert api.put(_path(cid, mid, emoji), user=user).status_code == 204
    assert api.put(_path(cid, mid, THUMBS_DARK), user="carol").status_code == 204
    # Then everyone sees exact counts in first-use order, with their own reactions marked
    assert _history(api, cid, "carol")[0]["reactions"] == [
        {"emoji": THUMBS, "count": 2, "me": True},
        {"emoji": FAMILY, "count": 1, "me": False},
        {"emoji": THUMBS_DARK, "count": 1, "me": True},
    ]
    assert [r["me"] for r in _history(api, cid, "alice")[0]["reactions"]] == [False, False, False]


def test_removing_is_idempotent_and_the_last_removal_drops_the_emoji(api: ApiClient) -> None:
    cid = _group(api, "alice", "bob", "carol")
    mid = _send(api, cid, "alice", "hello")
    api.put(_path(cid, mid, THUMBS), user="bob")
    api.put(_path(cid, mid, "🔥"), user="bob")
    api.put(_path(cid, mid, THUMBS), user="carol")
    # When carol removes hers twice, and bob removes his 👍 (the last one)
    assert api.delete(_path(cid, mid, THUMBS), user="carol").status_code == 204
    assert api.delete(_path(cid, mid, THUMBS), user="carol").status_code == 204
    assert api.delete(_path(cid, mid, THUMBS), user="bob").status_code == 204
    # Then only 🔥 stays; a later 👍 is ordered after it (a new first use)
    assert _history(api, cid, "bob")[0]["reactions"] == [{"emoji": "🔥", "count": 1, "me": True}]
    api.put(_path(cid, mid, THUMBS), user="alice")
    assert [r["emoji"] for r in _history(api, cid, "bob")[0]["reactions"]] == ["🔥", THUMBS]


def test_anything_but_one_emoji_is_a_400(api: ApiClient) -> None:
    cid = _group(api, "alice", "bob", "carol")
    mid = _send(api, cid, "alice", "hello")
    for bad in ("a", "👍👍", "👍x", ":)", "%F0%9F"):
        res = api.put(f"/v1/conversations/{cid}/messages/{mid}/reactions/{quote(bad)}", user="bob")
        assert res.status_code == 400, bad
        assert body_of(res)["code"] == "validation_error"
    assert _history(api, cid, "bob")[0]["reactions"] == []


def test_at_most_30_distinct_emoji(api: ApiClient) -> None:
    # Given a message with 30 distinct emoji
    cid = _group(api, "alice", "bob", "carol")
    mid = _send(api, cid, "alice", "hello")
    emojis = [chr(0x1F600 + i) for i in range(30)]
    for emoji in emojis:
        assert api.put(_path(cid, mid, emoji), user="bob").status_code == 204
    # When a 31st is added Then 409 too_many_reactions; an existing one still counts up
    res = api.put(_path(cid, mid, "🔥"), user="carol")
    assert res.status_code == 409 and body_of(res)["code"] == "too_many_reactions"
    assert api.put(_path(cid, mid, emojis[0]), user="carol").status_code == 204
    # And once one is gone, a new one fits
    api.delete(_path(cid, mid, emojis[5]), user="bob")
    assert api.put(_path(cid, mid, "🔥"), user="carol").status_code == 204
    reactions = _history(api, cid, "carol")[0]["reactions"]
    assert len(reactions) == 30 and reactions[0] == {"emoji": emojis[0], "count": 2, "me": True}


def test_non_members_get_404_and_tombstones_409(api: ApiClient) -> None:
    cid = _group(api, "alice", "bob", "carol")
    mid = _send(api, cid, "alice", "hello")
    for method in (api.put, api.delete):
        res = method(_path(cid, mid, THUMBS), user="mallory")
        assert res.status_code == 404 and body_of(res)["code"] == "not_found"
    res = api.put(_path(cid, "0" * 26, THUMBS), user="bob")
    assert res.status_code == 404
    api.put(_path(cid, mid, THUMBS), user="bob")
    assert api.delete(f"/v1/conversations/{cid}/messages/{mid}", user="alice").status_code == 204
    for method in (api.put, api.delete):
        res = method(_path(cid, mid, THUMBS), user="bob")
        assert res.status_code == 409 and body_of(res)["code"] == "message_deleted"
    assert _history(api, cid, "bob")[0]["reactions"] == []


def test_react_is_one_call_and_history_stays_two(api: ApiClient) -> None:
    cid = _group(api, "alice", "bob", "carol")
    mid = _send(api, cid, "alice", "hello")
    _history(api, cid, "bob")  # warm: bob's activity of this minute is already stamped
    with count_calls() as calls:
        api.put(_path(cid, mid, THUMBS), user="bob")
    assert calls == ["TransactWriteItems"]
    with count_calls() as calls:
        _history(api, cid, "bob")
    assert len(calls) <= 2


def test_reactions_neither_bump_the_inbox_nor_count_unread_and_show_in_last_message(api: ApiClient) -> None:
    # Given two groups, the older one's last message gets a reaction from carol
    pump = StreamPump()
    old = _group(api, "alice", "bob", "carol")
    old_mid = _send(api, old, "alice", "older")
    new = _group(api, "alice", "bob", "dave")
    _send(api, new, "alice", "newer")
    pump.pump()
    api.put(_path(old, old_mid, THUMBS), user="carol")
    pump.pump()
    # When alice lists her inbox
    rows = body_of(api.get("/v1/conversations", user="alice"))["items"]
    # Then the order is unchanged, nothing is unread, and last_message shows the reaction
    assert [r["conversation_id"] for r in rows] == [new, old]
    assert [r["unread_count"] for r in rows] == [0, 0]
    assert rows[1]["last_message"]["reactions"] == [{"emoji": THUMBS, "count": 1, "me": False}]
    carol_rows = body_of(api.get("/v1/conversations", user="carol"))["items"]
    assert carol_rows[0]["last_message"]["reactions"] == [{"emoji": THUMBS, "count": 1, "me": True}]


def test_reaction_events_go_to_the_other_members_and_name_the_author(api: ApiClient) -> None:
    from chalicelib.dm.outbox import events_from_change

    # Given alice's message in a group
    cid = _group(api, "alice", "bob", "carol")
    mid = _send(api, cid, "alice", "hello")
    pump = StreamPump()
    pump.pump()
    # When bob reacts and takes it back
    api.put(_path(cid, mid, THUMBS_DARK), user="bob")
    api.delete(_path(cid, mid, THUMBS_DARK), user="bob")
    events = [e for c in pump.pump() for e in events_from_change(c)]
    # Then one reaction.added and one reaction.removed go to alice and carol, nothing else
    assert [e.type for e in events] == ["reaction.added", "reaction.removed"]
    added, removed = events
    assert added.actor_id == "bob" and sorted(added.recipient_ids) == ["alice", "carol"]
    assert added.data == {
        "conversation_id": cid,
        "message_id": mid,
        "emoji": THUMBS_DARK,
        "user_id": "bob",
        "author_id": "alice",
    }
    assert sorted(removed.recipient_ids) == ["alice", "carol"] and removed.data["emoji"] == THUMBS_DARK
