"""Share suggestions put the people the caller most recently messaged first."""

from __future__ import annotations

from chalicelib.share import projections
from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import StreamPump
from tests.integration.share.world import befriend


def test_recently_messaged_friend_comes_first(api: ApiClient) -> None:
    # Given alice's friends bob, carol and dave, and a direct conversation with carol
    for friend in ("bob", "carol", "dave"):
        befriend("alice", friend)
    cid = body_of(api.post("/v1/conversations", {"member_ids": ["carol"]}, user="alice"))["conversation_id"]
    stream = StreamPump()
    # When alice messages carol and the stream is projected
    sent = api.post(
        f"/v1/conversations/{cid}/messages", {"client_message_id": "m1", "text": "hi"}, user="alice"
    )
    assert sent.status_code == 201
    projections.apply(stream._new_changes())
    # Then carol leads the suggestions, with the time of that message; the others follow
    items = body_of(api.get("/v1/me/share-suggestions", user="alice"))["items"]
    assert items[0] == {"user_id": "carol", "last_interaction_at": body_of(sent)["sent_at"]}
    assert {i["user_id"] for i in items[1:]} == {"bob", "dave"}
