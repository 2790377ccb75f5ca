"""End to end on the local stack: a DM sent over HTTP becomes a ``message.sent`` event on the
events-tap queue and a push on the recipient's platform endpoint, within 5 seconds."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from local.sms import sent_pushes
from tests.support.local_stack import LocalStack
from tests.support.tap import take_tap_events

pytestmark = pytest.mark.e2e

DEADLINE_S = 5.0


def _tap_events(local_stack: LocalStack, conversation_id: str) -> list[dict[str, Any]]:
    """Events about ``conversation_id`` on the tap queue, each once (``tests.support.tap``)."""
    return take_tap_events(local_stack, [conversation_id])


def test_a_dm_sent_over_http_is_published_and_pushed_within_5_seconds(local_stack: LocalStack) -> None:
    # Given alice and bob are friends, and bob's phone is registered for pushes
    run = uuid.uuid4().hex[:8]
    alice, bob, bob_token = f"e2e-n-alice-{run}", f"e2e-n-bob-{run}", f"e2e-fcm-{run}"
    for follower, followee in ((alice, bob), (bob, alice)):
        status, _, _ = local_stack.request("PUT", f"/v1/users/{followee}/follow", user=follower)
        assert status == 204
    status, _, _ = local_stack.request(
        "PUT", "/v1/me/devices", {"platform": "fcm", "token": bob_token}, user=bob
    )
    assert status == 201
    status, conversation, _ = local_stack.request(
        "POST", "/v1/conversations", {"member_ids": [bob]}, user=alice
    )
    assert status in (200, 201), conversation
    conversation_id = conversation["conversation_id"]

    # When alice sends bob a message over HTTP
    sent_at = time.monotonic()
    status, message, _ = local_stack.request(
        "POST",
        f"/v1/conversations/{conversation_id}/messages",
        {"client_message_id": f"cm-{run}", "text": "see you at 8"},
        user=alice,
    )
    assert status == 201, message

    # Then within 5 s a message.sent event is on the tap queue and bob's phone got the push
    events: list[dict[str, Any]] = []
    pushes: list[dict[str, Any]] = []
    while time.monotonic() - sent_at < DEADLINE_S and not (events and pushes):
        events = events or [
            e for e in _tap_events(local_stack, conversation_id) if e["type"] == "message.sent"
        ]
        pushes = pushes or sent_pushes(local_stack.moto_url, bob_token)
        time.sleep(0.1)
    assert events, f"no message.sent on the tap queue within {DEADLINE_S} s"
    assert events[0]["actor_id"] == alice
    assert bob in events[0]["recipient_ids"]
    assert pushes, f"no push to bob's endpoint within {DEADLINE_S} s"
    fcm = json.loads(pushes[0]["GCM"])["fcmV1Message"]["message"]
    assert fcm["notification"]["body"] == "see you at 8"
    assert fcm["data"]["conversation_id"] == conversation_id
