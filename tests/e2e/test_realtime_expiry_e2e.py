"""End to end on the local stack: a socket opened with a 3-second token is closed once the
token expires, though idle (the pump fires the realtime sweeper like EventBridge; the e2e
fixture runs schedules every 2 s); an ID token cannot open one."""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from local.tokens import mint_id_token, mint_token
from tests.support.local_stack import LocalStack

pytestmark = pytest.mark.e2e


def _ws_url(local_stack: LocalStack, user: str) -> str:
    status, body, _ = local_stack.request("GET", "/v1/realtime", user=user)
    assert status == 200, body
    return str(body["url"])


def test_a_3_second_tokens_idle_socket_is_closed_after_it_expires(local_stack: LocalStack) -> None:
    # Given bob's app opens its socket with a token that lives 3 seconds
    user = "e2e-rt-expiry-bob"
    url = _ws_url(local_stack, user)  # first: on a loaded machine this request alone can take 3 s
    token = mint_token(local_stack.stack.private_key_path.read_bytes(), user, ttl_seconds=3)
    started = time.monotonic()
    with connect(f"{url}/?token={token}", open_timeout=5) as socket:
        # When it stays idle past the token's exp
        # Then the server closes it (the sweep runs every 2 s here: within ~3 + 2 + slack s)
        with pytest.raises(ConnectionClosed):
            while time.monotonic() - started < 15:
                socket.recv(timeout=15)
        closed_after = time.monotonic() - started
    assert 2.5 <= closed_after < 12, closed_after


def test_an_id_token_cannot_open_a_socket_on_the_local_stack(local_stack: LocalStack) -> None:
    # When a socket is opened with a Cognito-shaped ID token
    user = "e2e-rt-idtoken-bob"
    token = mint_id_token(local_stack.stack.private_key_path.read_bytes(), user)
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{_ws_url(local_stack, user)}/?token={token}", open_timeout=5)
    # Then the upgrade is refused with 401
    assert refused.value.response.status_code == 401
    # And the same token is refused on the REST API
    status, body, _ = local_stack.request("GET", "/v1/realtime", headers={"Authorization": f"Bearer {token}"})
    assert status == 401 and body["code"] == "unauthorized"
