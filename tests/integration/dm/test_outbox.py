"""Domain events the dm domain emits from the table's stream (what notifications and realtime get)."""

from __future__ import annotations

from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import StreamPump, befriend


def test_message_read_request_and_unsend_events(api: ApiClient) -> None:
    from chalicelib.dm.outbox import events_from_change

    # Given a direct conversation between friends and a message request to a stranger
    befriend("alice", "bob")
    pump = StreamPump()
    cid = body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))["conversation_id"]
    req_cid = body_of(api.post("/v1/conversations", {"member_ids": ["carol"]}, user="alice"))[
        "conversation_id"
    ]
    # When alice sends, bob reads, alice unsends
    msg = body_of(
        api.post(
            f"/v1/conversations/{cid}/messages",
            {"client_message_id": "e1", "text": "hey " * 40},
            user="alice",
        )
    )
    api.post(f"/v1/conversations/{cid}/read", {"message_id": msg["message_id"]}, user="bob")
    api.delete(f"/v1/conversations/{cid}/messages/{msg['message_id']}", user="alice")
    changes = pump.pump()
    events = [e for c in changes for e in events_from_change(c)]
    by_type = {e.type: e for e in events}
    # Then message.sent carries the message as GET returns it, for bob only
    sent = by_type["message.sent"]
    assert sent.actor_id == "alice" and sent.recipient_ids == ["bob"]
    assert sent.data["conversation_id"] == cid
    assert sent.data["message"] == msg
    assert sent.data["preview"] == ("hey " * 40)[:100]
    assert sent.occurred_at == msg["sent_at"]
    # And the read receipt goes to alice, the unsend to bob, the request to carol
    read = by_type["conversation.read"]
    assert read.recipient_ids == ["alice"]
    assert read.data == {"conversation_id": cid, "user_id": "bob", "message_id": msg["message_id"]}
    deleted = by_type["message.deleted"]
    assert deleted.recipient_ids == ["bob"] and deleted.data["message_id"] == msg["message_id"]
    request = by_type["conversation.request"]
    assert request.recipient_ids == ["carol"]
    assert request.data == {"conversation_id": req_cid, "from_user_id": "alice"}
    # And exactly one event per fact (send's own bookkeeping writes emit nothing)
    assert sorted(e.type for e in events) == sorted(
        ["message.sent", "conversation.read", "message.deleted", "conversation.request"]
    )
    # And a replayed record yields the same event ids
    again = [e.event_id for c in changes for e in events_from_change(c)]
    assert again == [e.event_id for e in events]
