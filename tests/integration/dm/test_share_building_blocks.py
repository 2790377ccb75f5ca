"""The entry point the share domain uses: many video_share messages in one transaction."""

from __future__ import annotations

from chalicelib.core import clients
from chalicelib.core.clock import now_ms
from chalicelib.core.ddb import deserialize, serialize
from chalicelib.core.ids import new_ulid
from chalicelib.core.settings import get_settings
from chalicelib.dm import dal
from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import StreamPump, befriend
from tests.integration.share.world import publish


def test_video_share_to_existing_and_new_direct_conversations_in_one_transaction(api: ApiClient) -> None:
    # Given carol's public video, alice already talking with bob, and never with carol (a stranger)
    publish(api, "v1", author="carol", title="Cat")
    befriend("alice", "bob")
    created = api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice")
    with_bob = body_of(created)["conversation_id"]
    pump = StreamPump()
    table = get_settings().table_name
    ddb = clients.dynamodb()
    # When the share domain reads the pair pointers in one BatchGetItem...
    wanted = [dal.direct_pair_key("alice", r) for r in ("bob", "carol")]
    out = ddb.batch_get_item(RequestItems={table: {"Keys": [serialize(k) for k in wanted]}})
    pointers = {i["pk"]["S"]: i for i in out["Responses"][table]}
    video = {"video_id": "v1", "title": "Cat", "author_id": "carol"}
    actions = []
    writes = []
    for recipient, request in (("bob", False), ("carol", True)):
        pointer = deserialize(pointers.get(dal.direct_pair_key("alice", recipient)["pk"]))
        write = dal.direct_share_write(
            table=table,
            sender_id="alice",
            recipient_id=recipient,
            request=request,
            existing_conversation_id=pointer["conversation_id"] if pointer else None,
            conversation_id=new_ulid(),
            message_id=new_ulid(),
            video=video,
            text="look!",
            client_message_id=f"share-1-{recipient}",
            now_ms=now_ms(),
        )
        writes.append(write)
        actions += write.actions
    # ...and writes every recipient's message in ONE TransactWriteItems
    ddb.transact_write_items(TransactItems=actions)
    pump.pump()
    # Then bob gets it in the existing conversation, carol in a new request conversation
    assert writes[0].conversation_id == with_bob and not writes[0].created_conversation
    assert writes[1].created_conversation
    bob_items = body_of(api.get(f"/v1/conversations/{with_bob}/messages", user="bob"))["items"]
    assert bob_items[0]["type"] == "video_share" and bob_items[0]["video"] == video
    assert bob_items[0]["text"] == "look!"
    carol_requests = body_of(api.get("/v1/conversations?folder=requests", user="carol"))["items"]
    assert [r["conversation_id"] for r in carol_requests] == [writes[1].conversation_id]
    assert carol_requests[0]["unread_count"] == 1
    assert carol_requests[0]["last_message"]["type"] == "video_share"
    # And the canonical direct conversation is reused by a later POST /v1/conversations
    again = api.post("/v1/conversations", {"member_ids": ["alice"]}, user="carol")
    assert again.status_code == 200 and body_of(again)["conversation_id"] == writes[1].conversation_id
