"""WebSocket delivery through the local gateway: the app's real handlers, moto, real sockets."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import InvalidStatus

from chalicelib.realtime.models import Connection
from tests.conftest import ApiClient, body_of
from tests.integration.realtime.conftest import (
    Sockets,
    add_members,
    next_frame,
    no_frame,
    user_connections,
    wait_until,
)
from tests.support.env import token_for

MESSAGE = {"message_id": "01JMSG", "conversation_id": "conv-1", "sender_id": "alice", "text": "hi"}


# --- discovery ------------------------------------------------------------------------------


def test_discovery_returns_the_websocket_url(api: ApiClient, sockets: Sockets) -> None:
    # When an authenticated client asks where to connect
    response = api.get("/v1/realtime", user="bob")
    # Then it gets the gateway's ws:// URL
    assert response.status_code == 200
    assert body_of(response) == {"url": sockets.gateway.url}


def test_discovery_needs_a_token(api: ApiClient) -> None:
    # When an anonymous client asks
    response = api.get("/v1/realtime")
    # Then it is refused
    assert response.status_code == 401
    assert body_of(response)["code"] == "unauthorized"


# --- $connect -------------------------------------------------------------------------------


def test_connect_with_a_valid_token_receives_frames(sockets: Sockets) -> None:
    # Given bob connects with his token
    socket = sockets.open("bob")
    # When a message for him is published
    sockets.publish("message.sent", ["bob"], conversation_id="conv-1", message=MESSAGE)
    # Then it arrives on his socket, and his connection is stored under him
    assert next_frame(socket) == {"type": "message.new", "conversation_id": "conv-1", "message": MESSAGE}
    assert len(user_connections("bob")) == 1


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="missing"),
        pytest.param("not-a-jwt", id="garbage"),
        pytest.param(token_for("bob", ttl_seconds=-60), id="expired"),
        pytest.param(token_for("bob", issuer="https://evil.example"), id="wrong-issuer"),
    ],
)
def test_connect_with_an_invalid_or_expired_token_is_refused(sockets: Sockets, token: str) -> None:
    # When a socket connects with a bad token
    with pytest.raises(InvalidStatus) as refused:
        sockets.open(token=token)
    # Then the upgrade is refused with 401 and nothing is stored
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["code"] == "unauthorized"
    assert user_connections("bob") == []


def test_disconnect_forgets_the_connection(sockets: Sockets) -> None:
    # Given bob connected
    socket = sockets.open("bob")
    assert len(user_connections("bob")) == 1
    # When he closes the socket
    socket.close()
    # Then the connection is forgotten
    assert wait_until(lambda: user_connections("bob") == [])


# --- outbox events → frames -----------------------------------------------------------------


def test_two_connections_of_one_user_both_receive(sockets: Sockets) -> None:
    # Given bob on two devices and carol connected
    phone, laptop, carol = sockets.open("bob"), sockets.open("bob"), sockets.open("carol")
    # When alice's message to bob and his read receipt are published
    sockets.publish("message.sent", ["bob"], conversation_id="conv-1", message=MESSAGE)
    sockets.publish(
        "conversation.read", ["bob"], conversation_id="conv-1", user_id="alice", message_id="01JMSG"
    )
    # Then both devices receive both frames, in order; carol receives nothing
    for socket in (phone, laptop):
        assert next_frame(socket)["type"] == "message.new"
        assert next_frame(socket) == {
            "type": "read",
            "conversation_id": "conv-1",
            "user_id": "alice",
            "message_id": "01JMSG",
        }
    assert no_frame(carol)


def test_a_stale_connection_is_removed_on_gone_and_only_that_one(sockets: Sockets) -> None:
    # Given bob's live socket and a stale connection item whose $disconnect never ran
    from chalicelib.realtime import dal

    live = sockets.open("bob")
    stale = Connection("bob", "STALEconnId=", "https://gone.example/v1", expires_at=4_000_000_000)
    dal.connection_store().add(stale, token_exp=4_000_000_000)
    assert len(user_connections("bob")) == 2
    # When a frame for bob is published
    sockets.publish("message.deleted", ["bob"], conversation_id="conv-1", message_id="01JMSG")
    # Then the live socket receives it and only the stale connection is deleted
    assert next_frame(live) == {
        "type": "message.deleted",
        "conversation_id": "conv-1",
        "message_id": "01JMSG",
    }
    remaining = user_connections("bob")
    assert len(remaining) == 1 and "STALEconnId=" not in remaining
    assert dal.connection_store().owner("STALEconnId=") is None


# --- client frames --------------------------------------------------------------------------


def test_ping_gets_pong(sockets: Sockets) -> None:
    # Given bob connected
    socket = sockets.open("bob")
    # When he pings
    socket.send(json.dumps({"action": "ping"}))
    # Then he gets a pong
    assert next_frame(socket) == {"type": "pong"}


def test_typing_is_relayed_to_the_other_members_only_and_rate_limited(
    sockets: Sockets, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given alice (two devices) and bob in conv-1; carol connected but not a member; a clock
    from chalicelib.core import clock

    start = clock.now_ms()
    now = [start]
    monkeypatch.setattr(clock, "now_ms", lambda: now[0])
    add_members("conv-1", "alice", "bob")
    alice, alice_tablet = sockets.open("alice"), sockets.open("alice")
    bob, carol = sockets.open("bob"), sockets.open("carol")
    typing = json.dumps({"action": "typing", "conversation_id": "conv-1"})
    # When alice types
    alice.send(typing)
    # Then bob sees it; alice's other device and carol do not
    assert next_frame(bob) == {"type": "typing", "conversation_id": "conv-1", "user_id": "alice"}
    # When she types again 2.9 s later
    now[0] = start + 2_900
    alice.send(typing)
    # Then nobody sees it
    assert no_frame(bob, within=0.5)
    assert no_frame(alice_tablet, within=0.1) and no_frame(carol, within=0.1)
    # When she types again 3 s after the first
    now[0] = start + 3_000
    alice.send(typing)
    # Then it is relayed again
    assert next_frame(bob) == {"type": "typing", "conversation_id": "conv-1", "user_id": "alice"}


def test_typing_in_someone_elses_conversation_is_refused(sockets: Sockets) -> None:
    # Given alice and bob in conv-1, carol outside it
    add_members("conv-1", "alice", "bob")
    bob, carol = sockets.open("bob"), sockets.open("carol")
    # When carol sends typing to conv-1
    carol.send(json.dumps({"action": "typing", "conversation_id": "conv-1"}))
    # Then she is told it does not exist and bob sees nothing
    assert next_frame(carol)["code"] == "not_found"
    assert no_frame(bob)


def test_a_malformed_frame_gets_an_error_frame(sockets: Sockets) -> None:
    # Given bob connected
    socket = sockets.open("bob")
    # When he sends something that is not a known action
    socket.send("hello?")
    # Then he gets a validation error frame and stays connected
    assert next_frame(socket)["code"] == "validation_error"
    socket.send(json.dumps({"action": "ping"}))
    assert next_frame(socket) == {"type": "pong"}


def test_the_websocket_routes_are_registered_as_lambda_handlers() -> None:
    # Given the app
    from app import app

    # Then each websocket route's deployed handler is a realtime function taking (event, context)
    routes = {key: config.handler_string for key, config in app.websocket_handlers.items()}
    assert routes == {
        "$connect": "chalicelib.realtime.events.realtime_connect",
        "$disconnect": "chalicelib.realtime.events.realtime_disconnect",
        "$default": "chalicelib.realtime.events.realtime_message",
    }
