"""Data access of the realtime domain: connection items, member lookups, the typing throttle
and the API Gateway management API (``@connections``). The only module here that touches boto3.

Items (keys from ``chalicelib.core.keys``):

- ``connection``: ``USER#{user}`` / ``WS#{connection}`` — one per open socket; ``token_exp``
  (the token's ``exp``) and ``ttl`` = when the connection ends (``exp``, at most 2 h).
- ``connection_owner``: ``WS#{connection}`` / ``OWNER`` — reverse lookup for ``$default`` and
  ``$disconnect``, which only know the connection id, and the sweeper's sparse GSI2 entry
  ``WSEXP#{minute of ttl}`` / ``{connection}``. Written and deleted with the above in one
  transaction.
- ``typing_throttle``: ``TYPING#{user}#{conversation}`` / ``TYPING`` — ``until`` (epoch ms);
  a conditional put is the rate limit; ``ttl`` removes it a minute later.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from chalicelib.core import clients, keys, tx
from chalicelib.core.ddb import Item, get_item, query_all, values
from chalicelib.core.settings import get_settings
from chalicelib.dm.members import member_ids
from chalicelib.realtime.logic import ConnectionGoneError, DeliveryFailedError
from chalicelib.realtime.models import Connection

CONNECTION_ENTITY = "ws_connection"
OWNER_ENTITY = "ws_connection_owner"
THROTTLE_ENTITY = "typing_throttle"
# How long a throttle marker outlives its window before TTL may delete it.
THROTTLE_TTL_SLACK_S = 60


class DynamoConnectionStore:
    """:class:`chalicelib.realtime.logic.ConnectionStore` on the table."""

    def __init__(self, client: Any, table: str) -> None:
        self._ddb = client
        self._table = table

    def add(self, connection: Connection, token_exp: int) -> None:
        """Put the connection under its user and the reverse lookup (indexed by the minute it
        expires), atomically."""
        common = {
            "user_id": connection.user_id,
            "connection_id": connection.connection_id,
            "endpoint": connection.endpoint,
            "token_exp": token_exp,
            keys.TTL: connection.expires_at,
        }
        item = {
            **keys.connection(connection.user_id, connection.connection_id),
            "entity": CONNECTION_ENTITY,
            **common,
        }
        owner = {
            **keys.connection_owner(connection.connection_id),
            **keys.connection_expiry(connection.expires_at, connection.connection_id),
            "entity": OWNER_ENTITY,
            **common,
        }
        tx.transact(self._ddb, [tx.put(self._table, item), tx.put(self._table, owner)])

    def owner(self, connection_id: str) -> Connection | None:
        """The connection behind an id (strongly consistent GetItem on the reverse lookup)."""
        item = get_item(self._ddb, self._table, keys.connection_owner(connection_id))
        return None if item is None else _connection(item)

    def remove(self, connection: Connection) -> None:
        """Delete both items (deleting a missing item is not an error)."""
        tx.transact(
            self._ddb,
            [
                tx.delete(self._table, keys.connection(connection.user_id, connection.connection_id)),
                tx.delete(self._table, keys.connection_owner(connection.connection_id)),
            ],
        )

    def connections_of(self, user_ids: Sequence[str], now: int) -> list[Connection]:
        """One Query per user (``begins_with WS#``). Expired items that TTL has not deleted yet
        come back too, with their ``expires_at``: delivery closes them instead of posting."""
        found: list[Connection] = []
        for user_id in user_ids:
            prefix = keys.connections_of(user_id)
            items = query_all(
                self._ddb,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeNames={"#ttl": keys.TTL},
                ExpressionAttributeValues=values(pk=prefix[keys.PK], prefix=prefix[keys.SK]),
                ProjectionExpression="user_id, connection_id, endpoint, #ttl",
            )
            found += [_connection(item) for item in items]
        return found

    def expiring(self, minute: int) -> list[Connection]:
        """Query GSI2 ``WSEXP#{minute}`` (sparse: owner items only; one call per 1 MB page)."""
        items = query_all(
            self._ddb,
            TableName=self._table,
            IndexName=keys.GSI2,
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues=values(pk=keys.connection_expiry_bucket(minute)),
        )
        return [_connection(item) for item in items]


def _connection(item: Item) -> Connection:
    """A connection from its item (either of the two); ``expires_at`` is the item's ``ttl``."""
    expires_at = item.get(keys.TTL)
    return Connection(
        str(item["user_id"]),
        str(item["connection_id"]),
        str(item.get("endpoint", "")),
        expires_at=int(expires_at) if isinstance(expires_at, int | float) else 0,
    )


class DynamoMemberDirectory:
    """:class:`chalicelib.realtime.logic.MemberDirectory` on the dm domain's member items."""

    def __init__(self, client: Any, table: str) -> None:
        self._ddb = client
        self._table = table

    def members(self, conversation_id: str) -> list[str]:
        """Query ``CONV#{id}`` / ``begins_with MEMBER#`` (one call per 1 MB page), through dm's port."""
        return member_ids(self._ddb, self._table, conversation_id)


class DynamoTypingThrottle:
    """:class:`chalicelib.realtime.logic.TypingThrottle`: one conditional put per typing frame."""

    def __init__(self, client: Any, table: str) -> None:
        self._ddb = client
        self._table = table

    def acquire(self, user_id: str, conversation_id: str, now_ms: int, window_ms: int) -> bool:
        """Put ``until = now + window`` unless an unexpired marker exists."""
        item = {
            **keys.typing_throttle(user_id, conversation_id),
            "entity": THROTTLE_ENTITY,
            "until": now_ms + window_ms,
            keys.TTL: (now_ms + window_ms) // 1000 + THROTTLE_TTL_SLACK_S,
        }
        return tx.write_if(
            self._ddb,
            tx.put(self._table, item, condition="attribute_not_exists(pk) OR #until <= :now", now=now_ms),
        )


@lru_cache(maxsize=8)
def _management_client(endpoint: str) -> Any:
    """An ``apigatewaymanagementapi`` client for one endpoint (cached per container)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=1, read_timeout=3)
    return boto3.session.Session().client(
        "apigatewaymanagementapi", endpoint_url=endpoint, region_name=get_settings().region, config=config
    )


class ApiGatewaySender:
    """:class:`chalicelib.realtime.logic.FrameSender` over the ``@connections`` API.

    ``endpoint_override`` (``WEBSOCKET_MANAGEMENT_URL``; the local gateway) wins over the
    endpoint remembered with each connection (``https://{domain}/{stage}`` in AWS).
    """

    def __init__(self, endpoint_override: str = "") -> None:
        self._override = endpoint_override

    def endpoint_for(self, connection: Connection) -> str:
        """The management endpoint that reaches ``connection``."""
        return self._override or connection.endpoint

    def send(self, connection: Connection, data: bytes) -> None:
        """``PostToConnection``; ``GoneException`` → :class:`ConnectionGoneError`."""
        from botocore.exceptions import BotoCoreError, ClientError

        endpoint = self.endpoint_for(connection)
        if not endpoint:
            raise DeliveryFailedError("no management endpoint for the connection")
        client = _management_client(endpoint)
        try:
            client.post_to_connection(ConnectionId=connection.connection_id, Data=data)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "GoneException":
                raise ConnectionGoneError(connection.connection_id) from err
            raise DeliveryFailedError(str(err)) from err
        except BotoCoreError as err:
            raise DeliveryFailedError(str(err)) from err

    def close(self, connection: Connection) -> None:
        """``DeleteConnection`` (API Gateway then runs ``$disconnect``); gone already is fine."""
        from botocore.exceptions import BotoCoreError, ClientError

        endpoint = self.endpoint_for(connection)
        if not endpoint:
            raise DeliveryFailedError("no management endpoint for the connection")
        try:
            _management_client(endpoint).delete_connection(ConnectionId=connection.connection_id)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "GoneException":
                return
            raise DeliveryFailedError(str(err)) from err
        except BotoCoreError as err:
            raise DeliveryFailedError(str(err)) from err


# --- factories (plain functions, not cached: tests swap endpoints) ---------------------------


def connection_store() -> DynamoConnectionStore:
    """The stage's connection store."""
    return DynamoConnectionStore(clients.dynamodb(), get_settings().table_name)


def member_directory() -> DynamoMemberDirectory:
    """Members of conversations, read from the dm domain's items."""
    return DynamoMemberDirectory(clients.dynamodb(), get_settings().table_name)


def typing_throttle() -> DynamoTypingThrottle:
    """The typing rate limit."""
    return DynamoTypingThrottle(clients.dynamodb(), get_settings().table_name)


def frame_sender() -> ApiGatewaySender:
    """Posts frames through the stage's management endpoint."""
    return ApiGatewaySender(get_settings().websocket_management_url)


def reset_management_clients() -> None:
    """Forget cached management clients (tests start gateways on new ports)."""
    _management_client.cache_clear()
