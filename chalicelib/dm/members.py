"""dm's public read port for its member items (``CONV#{id}`` / ``MEMBER#{user}``): who is in a
conversation, and a member's push settings. dm alone encodes and decodes member items; other
domains (realtime, notify) read them through these functions, inside their own calls' budgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.core import keys
from chalicelib.core.ddb import Item, query_all, values


def member_ids(client: Any, table: str, conversation_id: str) -> list[str]:
    """Every member's user id: one Query of the ``MEMBER#`` items per 1 MB page, projecting
    ``user_id`` only (eventually consistent)."""
    prefix = keys.conversation_members(conversation_id)
    items = query_all(
        client,
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues=values(pk=prefix[keys.PK], prefix=prefix[keys.SK]),
        ProjectionExpression="user_id",
    )
    return [user_id for item in items if isinstance(user_id := item.get("user_id"), str)]


def member_key(conversation_id: str, user_id: str) -> keys.Key:
    """The key of a member item, for a caller's own BatchGetItem."""
    return keys.member(conversation_id, user_id)


@dataclass(frozen=True)
class PushSettings:
    """What a push needs from a member item."""

    muted: bool
    unread_count: int | None


def push_settings(item: Item | None) -> PushSettings:
    """A member item (or its absence) → :class:`PushSettings`."""
    member = item or {}
    unread = member.get("unread_count")
    return PushSettings(
        muted=member.get("muted", False) is True,
        unread_count=int(unread) if isinstance(unread, int) else None,
    )
