"""Sending, fetching, syncing and unsending direct messages over HTTP (moto in-process)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import StreamPump, befriend, block, count_calls, set_policy


def _direct(api: ApiClient, a: str, b: str) -> str:
    befriend(a, b)
    res = api.post("/v1/conversations", {"member_ids": [b]}, user=a)
    assert res.status_code == 201, res.body
    return str(body_of(res)["conversation_id"])


def _send(api: ApiClient, cid: str, user: str, text: str, cmid: str | None = None) -> Any:
    return api.post(
        f"/v1/conversations/{cid}/messages", {"client_message_id": cmid or text, "text": text}, user=user
    )


def test_send_returns_the_message_and_members_see_it(api: ApiClient) -> None:
    # Given a direct conversation between friends
    cid = _direct(api, "alice", "bob")
    # When alice sends a message
    res = _send(api, cid, "alice", "hello bob", "c1")
    # Then it is created with the documented shape, and bob sees it in the history
    assert res.status_code == 201
    sent = body_of(res)
    assert sent["type"] == "text" and sent["text"] == "hello bob" and sent["sender_id"] == "alice"
    assert sent["client_message_id"] == "c1" and sent["conversation_id"] == cid
    assert sent["sent_at"].endswith("Z") and len(sent["message_id"]) == 26
    history = body_of(api.get(f"/v1/conversations/{cid}/messages", user="bob"))
    assert history["items"] == [sent]
    assert history["next_cursor"] is None


def test_retry_with_same_client_message_id_returns_the_original(api: ApiClient) -> None:
    # Given a sent message
    cid = _direct(api, "alice", "bob")
    first = body_of(_send(api, cid, "alice", "hi", "same-id"))
    # When the client retries with the same client_message_id
    again = _send(api, cid, "alice", "hi", "same-id")
    # Then the original comes back with 200 and no duplicate exists
    assert again.status_code == 200
    assert body_of(again) == first
    assert len(body_of(api.get(f"/v1/conversations/{cid}/messages", user="alice"))["items"]) == 1


def test_same_client_message_id_with_a_different_body_is_rejected(api: ApiClient) -> None:
    cid = _direct(api, "alice", "bob")
    _send(api, cid, "alice", "hi", "k1")
    res = _send(api, cid, "alice", "something else", "k1")
    assert res.status_code == 422
    assert body_of(res)["code"] == "idempotency_key_reused"


def test_non_members_cannot_read_or_write(api: ApiClient) -> None:
    # Given a conversation between alice and bob
    cid = _direct(api, "alice", "bob")
    _send(api, cid, "alice", "secret")
    # When mallory reads, writes, or looks at it; Then 404 every time, and nothing was written
    for res in (
        api.get(f"/v1/conversations/{cid}/messages", user="mallory"),
        api.get(f"/v1/conversations/{cid}", user="mallory"),
        _send(api, cid, "mallory", "let me in"),
        api.post(f"/v1/conversations/{cid}/read", {"message_id": "0" * 26}, user="mallory"),
    ):
        assert res.status_code == 404
        assert body_of(res)["code"] == "not_found"
    assert [
        m["text"] for m in body_of(api.get(f"/v1/conversations/{cid}/messages", user="bob"))["items"]
    ] == ["secret"]


def test_unknown_conversation_is_404(api: ApiClient) -> None:
    res = _send(api, "01JAAAAAAAAAAAAAAAAAAAAAAA", "alice", "hi")
    assert res.status_code == 404


def test_history_is_newest_first_and_paginates(api: ApiClient) -> None:
    # Given five messages
    cid = _direct(api, "alice", "bob")
    for i in range(5):
        _send(api, cid, "alice", f"m{i}")
    # When bob pages two at a time
    seen: list[str] = []
    cursor = None
    while True:
        path = f"/v1/conversations/{cid}/messages?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = body_of(api.get(path, user="bob"))
        seen += [m["text"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    # Then every message comes once, newest first
    assert seen == ["m4", "m3", "m2", "m1", "m0"]


def test_tampered_or_foreign_cursor_is_rejected(api: ApiClient) -> None:
    # Given a valid cursor for bob
    cid = _direct(api, "alice", "bob")
    for i in range(3):
        _send(api, cid, "alice", f"m{i}")
    cursor = body_of(api.get(f"/v1/conversations/{cid}/messages?limit=1", user="bob"))["next_cursor"]
    _payload, sig = cursor.split(".")
    forged = base64.urlsafe_b64encode(b'{"after_sk":"MSG#~"}').rstrip(b"=").decode() + "." + sig
    # When it is tampered with, or used by alice; Then 400 invalid_cursor
    for user, bad in (("bob", forged), ("alice", cursor), ("bob", "garbage")):
        res = api.get(f"/v1/conversations/{cid}/messages?cursor={bad}", user=user)
        assert res.status_code == 400
        assert body_of(res)["code"] == "invalid_cursor"


def test_after_sync_returns_exactly_the_missed_messages_in_order(api: ApiClient) -> None:
    # Given bob saw up to m1
    cid = _direct(api, "alice", "bob")
    seen = body_of(_send(api, cid, "alice", "m0"))
    seen = body_of(_send(api, cid, "bob", "m1"))
    # When three more arrive and bob syncs after the last one he saw
    for text, user in (("m2", "alice"), ("m3", "alice"), ("m4", "bob")):
        _send(api, cid, user, text)
    synced = body_of(api.get(f"/v1/conversations/{cid}/messages?after={seen['message_id']}", user="bob"))
    # Then he gets exactly m2..m4, oldest first; syncing after the newest gives nothing
    assert [m["text"] for m in synced["items"]] == ["m2", "m3", "m4"]
    newest = synced["items"][-1]["message_id"]
    assert body_of(api.get(f"/v1/conversations/{cid}/messages?after={newest}", user="bob"))["items"] == []


def test_after_sync_paginates_oldest_first(api: ApiClient) -> None:
    cid = _direct(api, "alice", "bob")
    first = body_of(_send(api, cid, "alice", "m0"))
    for i in range(1, 6):
        _send(api, cid, "alice", f"m{i}")
    texts: list[str] = []
    cursor = None
    while True:
        path = f"/v1/conversations/{cid}/messages?after={first['message_id']}&limit=2"
        page = body_of(api.get(path + (f"&cursor={cursor}" if cursor else ""), user="bob"))
        texts += [m["text"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert texts == ["m1", "m2", "m3", "m4", "m5"]


def test_unsend_leaves_a_tombstone_in_place_and_only_the_sender_may(api: ApiClient) -> None:
    # Given three messages
    cid = _direct(api, "alice", "bob")
    _send(api, cid, "alice", "one")
    target = body_of(_send(api, cid, "alice", "oops"))
    _send(api, cid, "bob", "three")
    # When bob tries to unsend alice's message; Then 403
    path = f"/v1/conversations/{cid}/messages/{target['message_id']}"
    assert api.delete(path, user="bob").status_code == 403
    # When alice unsends it (twice: idempotent)
    assert api.delete(path, user="alice").status_code == 204
    assert api.delete(path, user="alice").status_code == 204
    # Then it stays in order as a deleted message without text
    items = body_of(api.get(f"/v1/conversations/{cid}/messages", user="bob"))["items"]
    assert [m["type"] for m in items] == ["text", "deleted", "text"]
    assert items[1]["message_id"] == target["message_id"] and items[1]["text"] is None
    # And unknown messages / outsiders get 404
    assert api.delete(f"/v1/conversations/{cid}/messages/{'0' * 26}", user="alice").status_code == 404
    assert api.delete(path, user="mallory").status_code == 404


def test_block_after_the_conversation_exists_stops_sending_both_ways(api: ApiClient) -> None:
    # Given a conversation with messages
    cid = _direct(api, "alice", "bob")
    assert _send(api, cid, "alice", "hi").status_code == 201
    # When bob blocks alice
    block("bob", "alice")
    # Then neither can send in the direct conversation
    for user in ("alice", "bob"):
        res = _send(api, cid, user, f"after block from {user}")
        assert res.status_code == 403
        assert body_of(res)["code"] == "forbidden"
    assert len(body_of(api.get(f"/v1/conversations/{cid}/messages", user="bob"))["items"]) == 1


def test_rate_limit_returns_429_with_retry_after(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a conversation and a clock frozen 0.5 s into a 2-second rate window
    cid = _direct(api, "alice", "bob")
    monkeypatch.setattr("chalicelib.dm.api.now_ms", lambda: 1_800_000_000_500)
    # When alice sends 12 messages within that window
    statuses = [_send(api, cid, "alice", f"spam {i}").status_code for i in range(12)]
    # Then the burst of 10 goes through and the rest are 429 with Retry-After
    assert statuses == [201] * 10 + [429] * 2
    limited = _send(api, cid, "alice", "one more")
    assert body_of(limited)["code"] == "rate_limited"
    assert limited.headers["Retry-After"] == "2"
    # And a retry of an already-sent message is still answered (replays are not rate limited)
    assert _send(api, cid, "alice", "spam 0").status_code == 200
    # When the next window starts; Then sending works again
    monkeypatch.setattr("chalicelib.dm.api.now_ms", lambda: 1_800_000_002_000)
    assert _send(api, cid, "alice", "later").status_code == 201


def test_request_conversation_allows_one_message_until_accepted(api: ApiClient) -> None:
    # Given carol (default 'friends' policy) is not alice's friend
    res = api.post("/v1/conversations", {"member_ids": ["carol"]}, user="alice")
    assert res.status_code == 201
    cid = body_of(res)["conversation_id"]
    # When alice sends two messages; Then the first lands, the second is refused
    assert _send(api, cid, "alice", "hi carol").status_code == 201
    second = _send(api, cid, "alice", "hello??")
    assert second.status_code == 403
    # And carol cannot reply before accepting
    assert _send(api, cid, "carol", "who is this").status_code == 403
    # When carol accepts; Then both may write freely
    accepted = api.post(f"/v1/conversations/{cid}/accept", user="carol")
    assert accepted.status_code == 200 and body_of(accepted)["status"] == "active"
    assert _send(api, cid, "alice", "thanks").status_code == 201
    assert _send(api, cid, "carol", "sure").status_code == 201


def test_blocked_or_no_one_recipients_cannot_be_messaged(api: ApiClient) -> None:
    block("dave", "alice")
    set_policy("erin", "no_one")
    for other in ("dave", "erin"):
        res = api.post("/v1/conversations", {"member_ids": [other]}, user="alice")
        assert res.status_code == 403
        assert body_of(res)["code"] == "forbidden"


def test_validation_errors_are_400_and_write_nothing(api: ApiClient) -> None:
    cid = _direct(api, "alice", "bob")
    bad_bodies: list[dict[str, Any]] = [
        {"client_message_id": "x"},
        {"client_message_id": "", "text": "hi"},
        {"client_message_id": "x", "text": "a" * 2001},
        {"client_message_id": "x", "text": "hi", "sender_id": "bob"},
        {"client_message_id": "x", "text": 5},
    ]
    for body in bad_bodies:
        res = api.post(f"/v1/conversations/{cid}/messages", body, user="alice")
        assert res.status_code == 400, body
        assert body_of(res)["code"] == "validation_error"
    raw = api.request("POST", f"/v1/conversations/{cid}/messages", user="alice", raw="{not json")
    assert raw.status_code == 400
    assert body_of(api.get(f"/v1/conversations/{cid}/messages", user="alice"))["items"] == []


def test_send_is_one_aws_call_and_history_two(api: ApiClient) -> None:
    # Given a conversation whose shape the container has already seen
    cid = _direct(api, "alice", "bob")
    _send(api, cid, "alice", "warm up")
    api.get(f"/v1/conversations/{cid}", user="bob")  # bob's activity of this minute is stamped
    # When alice sends, and bob reads a page
    with count_calls() as calls:
        assert _send(api, cid, "alice", "counted").status_code == 201
    assert calls == ["TransactWriteItems"]
    with count_calls() as calls:
        api.get(f"/v1/conversations/{cid}/messages", user="bob")
    assert len(calls) <= 2


def test_a_500_character_message_item_stays_under_1_kb(api: ApiClient) -> None:
    from chalicelib.core import clients, keys
    from chalicelib.core.settings import get_settings

    cid = _direct(api, "alice", "bob")
    sent = body_of(_send(api, cid, "alice", "x" * 500, "c" * 36))
    raw = clients.dynamodb().get_item(
        TableName=get_settings().table_name,
        Key={k: {"S": v} for k, v in keys.message(cid, sent["message_id"]).items()},
    )["Item"]
    size = sum(len(name) + len(str(next(iter(v.values())))) for name, v in raw.items())
    assert size <= 1024


def test_stream_projection_keeps_history_untouched(api: ApiClient) -> None:
    # Given messages and a projection run (the event pump's job locally)
    cid = _direct(api, "alice", "bob")
    pump = StreamPump()
    _send(api, cid, "alice", "a")
    pump.pump()
    pump.pump()  # replaying nothing is harmless
    assert [
        m["text"] for m in body_of(api.get(f"/v1/conversations/{cid}/messages", user="bob"))["items"]
    ] == ["a"]
