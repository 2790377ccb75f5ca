"""End to end on the local stack: a reaction over HTTP reaches the author's open socket as a
``reaction.added`` frame and the author's phone as a push; taking it back sends ``reaction.removed``."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from websockets.sync.client import ClientConnection, connect

from local.sms import sent_pushes
from tests.support.local_stack import LocalStack

pytestmark = pytest.mark.e2e

DEADLINE_S = 5.0
EMOJI = "👍🏽"


def _open(local_stack: LocalStack, user: str) -> ClientConnection:
    status, body, _ = local_stack.request("GET", "/v1/realtime", user=user)
    assert status == 200, body
    return connect(f"{body['url']}/?token={local_stack.token(user)}", open_timeout=5)


def _frame(socket: ClientConnection, frame_type: str, deadline: float) -> dict[str, Any]:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {frame_type} frame in time")
        try:
            frame = json.loads(socket.recv(timeout=remaining))
        except TimeoutError as err:
            raise AssertionError(f"no {frame_type} frame in time") from err
        if frame.get("type") == frame_type:
            return dict(frame)


def test_a_reaction_reaches_the_authors_socket_and_phone(local_stack: LocalStack) -> None:
    # Given friends alice and bob, alice's phone registered and her app's socket open
    run = uuid.uuid4().hex[:8]
    alice, bob, token = f"e2e-rx-alice-{run}", f"e2e-rx-bob-{run}", f"e2e-rx-fcm-{run}"
    for follower, followee in ((alice, bob), (bob, alice)):
        assert local_stack.request("PUT", f"/v1/users/{followee}/follow", user=follower)[0] == 204
    assert (
        local_stack.request("PUT", "/v1/me/devices", {"platform": "fcm", "token": token}, user=alice)[0]
        == 201
    )
    status, conversation, _ = local_stack.request(
        "POST", "/v1/conversations", {"member_ids": [bob]}, user=alice
    )
    assert status in (200, 201), conversation
    cid = conversation["conversation_id"]
    status, message, _ = local_stack.request(
        "POST",
        f"/v1/conversations/{cid}/messages",
        {"client_message_id": f"c-{run}", "text": "dinner?"},
        user=alice,
    )
    assert status == 201, message
    path = f"/v1/conversations/{cid}/messages/{message['message_id']}/reactions/{quote(EMOJI)}"
    before = len(sent_pushes(local_stack.moto_url, token))
    with _open(local_stack, alice) as socket:
        # When bob reacts
        assert local_stack.request("PUT", path, user=bob)[0] == 204
        # Then alice's socket gets the frame
        frame = _frame(socket, "reaction.added", time.monotonic() + DEADLINE_S)
        assert frame == {
            "type": "reaction.added",
            "conversation_id": cid,
            "message_id": message["message_id"],
            "emoji": EMOJI,
            "user_id": bob,
        }
        # And her phone gets "<bob> reacted 👍🏽 to your message"
        deadline = time.monotonic() + DEADLINE_S
        pushes: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(pushes) <= before:
            pushes = sent_pushes(local_stack.moto_url, token)
            time.sleep(0.1)
        assert len(pushes) > before, "no reaction push"
        fcm = json.loads(pushes[-1]["GCM"])["fcmV1Message"]["message"]
        assert fcm["notification"] == {
            "title": "New reaction",
            "body": f"{bob} reacted {EMOJI} to your message",
        }
        # When bob takes it back, Then the frame says so
        assert local_stack.request("DELETE", path, user=bob)[0] == 204
        removed = _frame(socket, "reaction.removed", time.monotonic() + DEADLINE_S)
        assert removed["emoji"] == EMOJI and removed["user_id"] == bob
