"""Fixtures: the app's real WebSocket handlers behind the local gateway, over in-process moto."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from chalicelib.core import keys
from chalicelib.core.domain_events import DomainEvent
from local.ws_gateway import Gateway, background_gateway, load_handlers
from tests.conftest import ApiClient
from tests.support.env import token_for


class Sockets:
    """Opens client sockets against the gateway and publishes outbox events to the subscriber."""

    def __init__(self, gateway: Gateway, api: ApiClient) -> None:
        self.gateway = gateway
        self.api = api
        self.opened: list[ClientConnection] = []

    def open(self, user: str | None = None, *, token: str | None = None) -> ClientConnection:
        """A socket connected with ``?token=`` (a valid one for ``user`` unless ``token`` is given)."""
        value = token if token is not None else token_for(user or "nobody")
        socket = connect(f"{self.gateway.url}/?token={value}", open_timeout=5)
        self.opened.append(socket)
        return socket

    def publish(self, event_type: str, recipients: list[str], **data: Any) -> None:
        """Invoke the events-topic subscriber like SNS does."""
        event = DomainEvent(
            event_id=f"evt_{time.monotonic_ns()}",
            type=event_type,
            occurred_at="2027-01-15T08:00:00.000Z",
            actor_id="alice",
            recipient_ids=recipients,
            data=data,
        )
        sns = self.api.client.events.generate_sns_event(message=event.model_dump_json(), subject="")
        self.api.client.lambda_.invoke("realtime_deliver", sns)

    def close_all(self) -> None:
        """Close every socket this helper opened."""
        for socket in self.opened:
            socket.close()


def next_frame(socket: ClientConnection, timeout: float = 2.0) -> dict[str, Any]:
    """The next JSON frame on ``socket``."""
    return dict(json.loads(socket.recv(timeout=timeout)))


def no_frame(socket: ClientConnection, within: float = 0.4) -> bool:
    """True when nothing arrives on ``socket`` within ``within`` seconds."""
    try:
        socket.recv(timeout=within)
    except TimeoutError:
        return True
    except ConnectionClosed:
        return True
    return False


def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``condition`` until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def add_members(conversation_id: str, *users: str) -> None:
    """Member items as the dm domain writes them (``CONV#id`` / ``MEMBER#user`` with ``user_id``)."""
    from chalicelib.core import clients
    from chalicelib.core.ddb import serialize
    from chalicelib.core.settings import get_settings

    for user in users:
        item = {**keys.member(conversation_id, user), "entity": "member", "user_id": user}
        clients.dynamodb().put_item(TableName=get_settings().table_name, Item=serialize(item))


def user_connections(user: str) -> list[str]:
    """Connection ids stored under ``user``."""
    from chalicelib.core import clients
    from chalicelib.core.settings import get_settings

    prefix = keys.connections_of(user)
    page = clients.dynamodb().query(
        TableName=get_settings().table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": prefix["pk"]}, ":p": {"S": prefix["sk"]}},
    )
    return sorted(item["connection_id"]["S"] for item in page["Items"])


@pytest.fixture
def sockets(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sockets]:
    """The gateway (real handlers) on a free port, ``WEBSOCKET_MANAGEMENT_URL`` pointing at it."""
    from app import app
    from chalicelib.core import settings
    from chalicelib.realtime import dal

    with background_gateway(load_handlers(app)) as gateway:
        monkeypatch.setitem(os.environ, "WEBSOCKET_MANAGEMENT_URL", gateway.management_url)
        monkeypatch.setitem(os.environ, "WEBSOCKET_URL", gateway.url)
        settings.get_settings.cache_clear()
        dal.reset_management_clients()
        helper = Sockets(gateway, api)
        try:
            yield helper
        finally:
            helper.close_all()
    settings.get_settings.cache_clear()
