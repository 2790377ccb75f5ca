"""Blocks and token expiry on real sockets (local gateway, the app's handlers, in-process moto):
no typing or read frame crosses a block; a connection ends with its token's ``exp``; only
access tokens open a socket."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from local.tokens import mint_id_token
from tests.conftest import ApiClient
from tests.integration.realtime.conftest import (
    Sockets,
    add_members,
    next_frame,
    no_frame,
    user_connections,
    wait_until,
)
from tests.support.env import keypair, token_for

TYPING = json.dumps({"action": "typing", "conversation_id": "dm-1"})


def _block(api: ApiClient, blocker: str, blocked: str) -> None:
    response = api.put(f"/v1/users/{blocked}/block", user=blocker)
    assert response.status_code == 204, response.body


def _closed(socket: object, within: float) -> bool:
    """True when the server closes ``socket`` within ``within`` seconds (frames are drained)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.recv(timeout=max(0.01, deadline - time.monotonic()))  # type: ignore[attr-defined]
        except TimeoutError:
            return False
        except ConnectionClosed:
            return True
    return False


# --- access tokens only ---------------------------------------------------------------------


def test_an_id_token_cannot_open_a_socket(sockets: Sockets) -> None:
    # When bob connects with a Cognito-shaped ID token of the right pool and client
    with pytest.raises(InvalidStatus) as refused:
        sockets.open(token=mint_id_token(keypair()[0], "bob"))
    # Then $connect refuses it with 401 and nothing is stored
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["code"] == "unauthorized"
    assert user_connections("bob") == []


# --- blocks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("blocker", "blocked"), [("bob", "alice"), ("alice", "bob")])
def test_a_typing_frame_across_a_block_is_not_relayed(
    api: ApiClient, sockets: Sockets, blocker: str, blocked: str
) -> None:
    # Given alice and bob in their direct conversation, both connected; then one blocks the other
    add_members("dm-1", "alice", "bob")
    alice, bob = sockets.open("alice"), sockets.open("bob")
    _block(api, blocker, blocked)
    # When each of them types
    alice.send(TYPING)
    bob.send(TYPING)
    # Then neither sees the other typing (and neither gets an error that would reveal the block)
    assert no_frame(bob, within=0.6)
    assert no_frame(alice, within=0.2)


def test_typing_in_a_group_reaches_everyone_but_the_member_across_a_block(
    api: ApiClient, sockets: Sockets
) -> None:
    # Given alice, bob and dave in a group; bob blocked alice
    add_members("dm-1", "alice", "bob", "dave")
    _block(api, "bob", "alice")
    alice, bob, dave = sockets.open("alice"), sockets.open("bob"), sockets.open("dave")
    # When alice types
    alice.send(TYPING)
    # Then dave sees it, bob does not
    assert next_frame(dave) == {"type": "typing", "conversation_id": "dm-1", "user_id": "alice"}
    assert no_frame(bob)
    # And when bob types, alice does not see it but dave does
    bob.send(TYPING)
    assert next_frame(dave)["user_id"] == "bob"
    assert no_frame(alice)


def test_a_blocked_users_read_frame_never_reaches_the_blocker(api: ApiClient, sockets: Sockets) -> None:
    # Given bob blocked alice; bob and carol connected
    _block(api, "bob", "alice")
    bob, carol = sockets.open("bob"), sockets.open("carol")
    # When the outbox reports that alice (the actor) read a group they share
    sockets.publish(
        "conversation.read", ["bob", "carol"], conversation_id="g-1", user_id="alice", message_id="m1"
    )
    # Then carol gets the read frame and bob does not
    assert next_frame(carol) == {
        "type": "read",
        "conversation_id": "g-1",
        "user_id": "alice",
        "message_id": "m1",
    }
    assert no_frame(bob)


# --- expired tokens -------------------------------------------------------------------------


def test_a_3_second_tokens_socket_is_closed_at_delivery_after_it_expires(sockets: Sockets) -> None:
    # Given bob connected with a token that lives 3 seconds
    socket = sockets.open(token=token_for("bob", ttl_seconds=3))
    sockets.publish("message.deleted", ["bob"], conversation_id="c", message_id="m0")
    assert next_frame(socket)["message_id"] == "m0"
    # When the token has expired and a frame for bob is published
    time.sleep(3.2)
    sockets.publish("message.deleted", ["bob"], conversation_id="c", message_id="m1")
    # Then the frame is not delivered: the socket is closed and the connection forgotten
    assert _closed(socket, within=2.0)
    assert wait_until(lambda: user_connections("bob") == [])


def test_the_sweeper_closes_an_idle_socket_whose_token_expired(sockets: Sockets) -> None:
    # Given bob idle on a 3-second token, carol on a long one
    from app import app
    from local.pump import scheduled_event

    bob = sockets.open(token=token_for("bob", ttl_seconds=3))
    carol = sockets.open("carol")

    def sweep() -> object:
        return app.handler_map["realtime_sweep_expired"](scheduled_event("sweep", "us-east-1"), None)

    # When the sweeper runs before the token expires, nothing is closed
    assert sweep() == {"closed": 0, "failed": 0}
    # When it runs after the expiry
    time.sleep(3.2)
    assert sweep() == {"closed": 1, "failed": 0}
    # Then bob's socket is closed and forgotten; carol's stays open
    assert _closed(bob, within=2.0)
    assert wait_until(lambda: user_connections("bob") == [])
    carol.send(json.dumps({"action": "ping"}))
    assert next_frame(carol) == {"type": "pong"}


def test_the_sweeper_is_scheduled_every_minute() -> None:
    # Given the app
    from chalice.app import ScheduledEventConfig

    from app import app

    # Then the sweeper is a scheduled handler at rate(1 minute)
    (config,) = [
        c
        for c in app.event_sources
        if isinstance(c, ScheduledEventConfig) and c.name == "realtime_sweep_expired"
    ]
    assert config.schedule_expression == "rate(1 minute)"
