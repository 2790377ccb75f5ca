"""Replies over HTTP (moto in-process): the quote, its 100-character limit, and unsend."""

from __future__ import annotations

from typing import Any

from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import StreamPump, befriend


def _direct(api: ApiClient, a: str, b: str) -> str:
    befriend(a, b)
    return str(body_of(api.post("/v1/conversations", {"member_ids": [b]}, user=a))["conversation_id"])


def _send(api: ApiClient, cid: str, user: str, text: str, **extra: Any) -> Any:
    body = {"client_message_id": text[:60], "text": text, **extra}
    return api.post(f"/v1/conversations/{cid}/messages", body, user=user)


def _history(api: ApiClient, cid: str, user: str) -> list[dict[str, Any]]:
    return list(body_of(api.get(f"/v1/conversations/{cid}/messages", user=user))["items"])


def test_a_reply_quotes_at_most_100_characters_of_the_original(api: ApiClient) -> None:
    # Given a long message from alice
    cid = _direct(api, "alice", "bob")
    original = body_of(_send(api, cid, "alice", "x" * 150))
    # When bob replies to it
    res = _send(api, cid, "bob", "agreed", reply_to=original["message_id"])
    # Then the reply carries the quote, in the reply and in the history
    assert res.status_code == 201, res.body
    quote = {"message_id": original["message_id"], "sender_id": "alice", "type": "text", "text": "x" * 100}
    assert body_of(res)["reply_to"] == quote
    assert _history(api, cid, "alice")[0]["reply_to"] == quote


def test_replying_to_an_unknown_or_foreign_message_is_404(api: ApiClient) -> None:
    cid = _direct(api, "alice", "bob")
    other = _direct(api, "alice", "carol")
    foreign = body_of(_send(api, other, "carol", "elsewhere"))["message_id"]
    for target in ("0" * 26, foreign):
        res = _send(api, cid, "bob", "hm", reply_to=target)
        assert res.status_code == 404 and body_of(res)["code"] == "not_found"
    assert _history(api, cid, "bob") == []


def test_after_the_original_is_unsent_the_preview_says_deleted(api: ApiClient) -> None:
    # Given bob's reply to alice's message
    pump = StreamPump()
    cid = _direct(api, "alice", "bob")
    original = body_of(_send(api, cid, "alice", "regrettable"))
    reply = body_of(_send(api, cid, "bob", "wow", reply_to=original["message_id"]))
    # When alice unsends the original
    assert (
        api.delete(f"/v1/conversations/{cid}/messages/{original['message_id']}", user="alice").status_code
        == 204
    )
    # Then every read shows the reply's quote as deleted, nothing of the text remains
    gone = {"message_id": original["message_id"], "deleted": True}
    for user in ("alice", "bob"):
        latest = _history(api, cid, user)[0]
        assert latest["message_id"] == reply["message_id"] and latest["reply_to"] == gone
    synced = body_of(api.get(f"/v1/conversations/{cid}/messages?after={original['message_id']}", user="bob"))[
        "items"
    ]
    assert synced[0]["reply_to"] == gone
    # And replaying the stream (the projection repeats the fix-up) changes nothing
    pump.pump()
    assert _history(api, cid, "bob")[0]["reply_to"] == gone
    # And the deleted original can no longer be replied to
    assert _send(api, cid, "bob", "again", reply_to=original["message_id"]).status_code == 404
