"""Inbox, read markers, unread counts and the requests folder (projection driven by the stream)."""

from __future__ import annotations

from typing import Any

from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import StreamPump, befriend, count_calls


def _send(api: ApiClient, cid: str, user: str, text: str) -> dict[str, Any]:
    res = api.post(
        f"/v1/conversations/{cid}/messages", {"client_message_id": text[:64], "text": text}, user=user
    )
    assert res.status_code == 201, res.body
    return dict(body_of(res))


def _inbox(api: ApiClient, user: str, folder: str = "inbox") -> list[dict[str, Any]]:
    res = api.get(f"/v1/conversations?folder={folder}", user=user)
    assert res.status_code == 200, res.body
    return list(body_of(res)["items"])


def test_read_marker_drives_unread_count_and_read_receipts(api: ApiClient) -> None:
    # Given alice sent bob three messages and the projection ran
    befriend("alice", "bob")
    cid = body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))["conversation_id"]
    pump = StreamPump()
    sent = [_send(api, cid, "alice", f"m{i}") for i in range(3)]
    pump.pump()
    # Then bob has 3 unread, alice (the sender) none
    assert _inbox(api, "bob")[0]["unread_count"] == 3
    assert _inbox(api, "alice")[0]["unread_count"] == 0
    # When bob reads up to the second message
    res = api.post(f"/v1/conversations/{cid}/read", {"message_id": sent[1]["message_id"]}, user="bob")
    assert res.status_code == 204
    # Then one is left unread, and alice sees bob's read receipt
    assert _inbox(api, "bob")[0]["unread_count"] == 1
    members = {m["user_id"]: m for m in body_of(api.get(f"/v1/conversations/{cid}", user="alice"))["members"]}
    assert members["bob"]["last_read_message_id"] == sent[1]["message_id"]
    # When bob re-reads an older message, nothing moves backwards
    api.post(f"/v1/conversations/{cid}/read", {"message_id": sent[0]["message_id"]}, user="bob")
    assert _inbox(api, "bob")[0]["unread_count"] == 1
    # When bob replies and alice sends one more, and the projection runs twice (replay)
    _send(api, cid, "bob", "reply")
    _send(api, cid, "alice", "m3")
    pump.pump()
    from chalicelib.dm import projections

    projections.apply(pump.changes)  # a replayed batch must not double-count
    # Then bob has 2 unread (m2, m3), alice has 1 (bob's reply)
    assert _inbox(api, "bob")[0]["unread_count"] == 2
    assert _inbox(api, "alice")[0]["unread_count"] == 1
    # When bob reads the newest; Then zero
    api.post(
        f"/v1/conversations/{cid}/read",
        {"message_id": _inbox(api, "bob")[0]["last_message"]["message_id"]},
        user="bob",
    )
    assert _inbox(api, "bob")[0]["unread_count"] == 0


def test_reading_ahead_of_the_projection_is_not_double_counted(api: ApiClient) -> None:
    # Given a message bob reads before the projection has seen it
    befriend("alice", "bob")
    cid = body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))["conversation_id"]
    pump = StreamPump()
    msg = _send(api, cid, "alice", "fresh")
    assert (
        api.post(f"/v1/conversations/{cid}/read", {"message_id": msg["message_id"]}, user="bob").status_code
        == 204
    )
    # When the projection catches up
    pump.pump()
    # Then bob has nothing unread and sees the message as the last one
    row = _inbox(api, "bob")[0]
    assert row["unread_count"] == 0
    assert row["last_message"]["message_id"] == msg["message_id"]


def test_read_of_unknown_message_is_404(api: ApiClient) -> None:
    befriend("alice", "bob")
    cid = body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))["conversation_id"]
    res = api.post(f"/v1/conversations/{cid}/read", {"message_id": "01J" + "0" * 23}, user="bob")
    assert res.status_code == 404


def test_inbox_orders_by_latest_activity_with_preview(api: ApiClient) -> None:
    # Given alice talks with bob, then carol, then bob again
    for friend in ("bob", "carol"):
        befriend("alice", friend)
    with_bob = body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))[
        "conversation_id"
    ]
    with_carol = body_of(api.post("/v1/conversations", {"member_ids": ["carol"]}, user="alice"))[
        "conversation_id"
    ]
    pump = StreamPump()
    _send(api, with_bob, "alice", "first")
    _send(api, with_carol, "alice", "second")
    long_text = "y" * 300
    _send(api, with_bob, "bob", long_text)
    pump.pump()
    # When alice lists her inbox
    rows = _inbox(api, "alice")
    # Then bob's conversation comes first, with a 100-char preview from bob
    assert [r["conversation_id"] for r in rows] == [with_bob, with_carol]
    top = rows[0]
    assert top["kind"] == "direct" and top["status"] == "active" and top["muted"] is False
    assert {m["user_id"] for m in top["members"]} == {"alice", "bob"}
    assert top["last_message"]["sender_id"] == "bob" and top["last_message"]["type"] == "text"
    assert top["last_message"]["preview"] == "y" * 100
    assert top["unread_count"] == 1 and top["updated_at"].endswith("Z")
    # And the inbox page costs at most 2 calls, pages with a signed cursor
    with count_calls() as calls:
        page = body_of(api.get("/v1/conversations?limit=1", user="alice"))
    assert len(calls) <= 2
    assert [r["conversation_id"] for r in page["items"]] == [with_bob]
    rest = body_of(api.get(f"/v1/conversations?limit=1&cursor={page['next_cursor']}", user="alice"))
    assert [r["conversation_id"] for r in rest["items"]] == [with_carol]
    bad = api.get(f"/v1/conversations?folder=requests&cursor={page['next_cursor']}", user="alice")
    assert bad.status_code == 400 and body_of(bad)["code"] == "invalid_cursor"


def test_requests_folder_and_accept(api: ApiClient) -> None:
    # Given alice messages carol, who is not her friend (carol's default policy: friends)
    res = api.post("/v1/conversations", {"member_ids": ["carol"]}, user="alice")
    cid = body_of(res)["conversation_id"]
    assert body_of(res)["status"] == "active"  # the sender's own view
    pump = StreamPump()
    _send(api, cid, "alice", "hi, saw your video")
    pump.pump()
    # Then it is in carol's requests folder, not her inbox, and she sees it as a request
    assert _inbox(api, "carol") == []
    requests = _inbox(api, "carol", "requests")
    assert [r["conversation_id"] for r in requests] == [cid]
    assert requests[0]["status"] == "request" and requests[0]["unread_count"] == 1
    assert body_of(api.get(f"/v1/conversations/{cid}", user="carol"))["status"] == "request"
    # And carol can read the request's message before deciding
    assert len(body_of(api.get(f"/v1/conversations/{cid}/messages", user="carol"))["items"]) == 1
    # When carol accepts
    accepted = api.post(f"/v1/conversations/{cid}/accept", user="carol")
    assert accepted.status_code == 200
    # Then it moves to her inbox
    assert _inbox(api, "carol", "requests") == []
    assert [r["conversation_id"] for r in _inbox(api, "carol")] == [cid]
    # And strangers cannot accept it
    assert api.post(f"/v1/conversations/{cid}/accept", user="mallory").status_code == 404


def test_unknown_folder_is_400(api: ApiClient) -> None:
    res = api.get("/v1/conversations?folder=spam", user="alice")
    assert res.status_code == 400


def test_hidden_direct_conversation_returns_with_the_next_message(api: ApiClient) -> None:
    # Given a direct conversation bob has hidden
    befriend("alice", "bob")
    cid = body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))["conversation_id"]
    pump = StreamPump()
    _send(api, cid, "alice", "one")
    pump.pump()
    assert api.delete(f"/v1/conversations/{cid}", user="bob").status_code == 204
    assert _inbox(api, "bob") == []
    # When alice writes again and the projection runs
    _send(api, cid, "alice", "two")
    pump.pump()
    # Then it is back in bob's inbox, history intact
    assert [r["conversation_id"] for r in _inbox(api, "bob")] == [cid]
    assert len(body_of(api.get(f"/v1/conversations/{cid}/messages", user="bob"))["items"]) == 2


def test_unsent_last_message_shows_as_deleted_in_the_inbox(api: ApiClient) -> None:
    befriend("alice", "bob")
    cid = body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))["conversation_id"]
    pump = StreamPump()
    msg = _send(api, cid, "alice", "regret")
    pump.pump()
    api.delete(f"/v1/conversations/{cid}/messages/{msg['message_id']}", user="alice")
    pump.pump()
    last = _inbox(api, "bob")[0]["last_message"]
    assert last["type"] == "deleted" and last["preview"] == ""


def test_unsending_an_unread_message_takes_it_off_the_unread_count(api: ApiClient) -> None:
    # Given alice sent bob three messages he has not read, and the projection ran
    befriend("alice", "bob")
    cid = body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))["conversation_id"]
    pump = StreamPump()
    sent = [_send(api, cid, "alice", f"oops{i}") for i in range(3)]
    pump.pump()
    assert _inbox(api, "bob")[0]["unread_count"] == 3
    # When alice unsends the middle one and the stream batch is delivered twice (replay)
    api.delete(f"/v1/conversations/{cid}/messages/{sent[1]['message_id']}", user="alice")
    pump.pump()
    from chalicelib.dm import projections

    projections.apply(pump.changes)
    # Then bob has two unread, not three and not one
    assert _inbox(api, "bob")[0]["unread_count"] == 2
    # When bob reads the first and alice unsends the first (already read)
    api.post(f"/v1/conversations/{cid}/read", {"message_id": sent[0]["message_id"]}, user="bob")
    api.delete(f"/v1/conversations/{cid}/messages/{sent[0]['message_id']}", user="alice")
    pump.pump()
    # Then only the third is left unread, and reading up to the tombstone keeps it that way
    assert _inbox(api, "bob")[0]["unread_count"] == 1
    api.post(f"/v1/conversations/{cid}/read", {"message_id": sent[1]["message_id"]}, user="bob")
    assert _inbox(api, "bob")[0]["unread_count"] == 1
