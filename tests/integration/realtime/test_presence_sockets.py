""" "Active now" from open WebSockets (the app's real $connect/$disconnect behind the gateway)."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.core import clients, keys
from chalicelib.core.ddb import serialize, values
from chalicelib.core.settings import get_settings
from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import befriend
from tests.integration.realtime.conftest import Sockets, wait_until


def _profile(user: str) -> dict[str, Any]:
    out = clients.dynamodb().get_item(TableName=get_settings().table_name, Key=serialize(keys.profile(user)))
    return out.get("Item") or {}


def _member(api: ApiClient, cid: str, viewer: str, user: str) -> dict[str, Any]:
    members = body_of(api.get(f"/v1/conversations/{cid}", user=viewer))["members"]
    return dict(next(m for m in members if m["user_id"] == user))


def test_an_open_socket_shows_active_and_closing_it_stops_that(api: ApiClient, sockets: Sockets) -> None:
    # Given a group in which bob never made a request
    befriend("alice", "bob")
    befriend("alice", "carol")
    cid = body_of(
        api.post("/v1/conversations", {"member_ids": ["bob", "carol"], "title": "g"}, user="alice")
    )["conversation_id"]
    assert _member(api, cid, "alice", "bob")["active"] is False
    # When bob opens the app's socket
    socket = sockets.open("bob")
    # Then alice sees him active
    assert wait_until(lambda: _member(api, cid, "alice", "bob")["active"] is True)
    # When he closes it, his open-socket count drops back, and five minutes later he is inactive
    socket.close()
    assert wait_until(lambda: _profile("bob").get("ws_open") == {"N": "0"})
    clients.dynamodb().update_item(
        TableName=get_settings().table_name,
        Key=serialize(keys.profile("bob")),
        UpdateExpression="SET last_active_at = :t",
        ExpressionAttributeValues=values(t=int(time.time() * 1000) - 6 * 60 * 1000),
    )
    assert _member(api, cid, "alice", "bob")["active"] is False
