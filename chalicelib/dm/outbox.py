"""Outbox mapping for the dm domain: committed table changes → domain events.

Message items stay lean (no member lists), so recipients are looked up from the conversation's
member items (one Query per message/read event; ``members_of`` is injectable for tests).
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.core.clock import iso_from_ms
from chalicelib.core.domain_events import DomainEvent, event_from_change
from chalicelib.core.streams import StreamChange
from chalicelib.dm.records import REQUEST, Item, is_unsend, message_view, preview_of

MembersOf = Callable[[str], list[str]]
AuthorOf = Callable[[str, str], str | None]  # (conversation, message) → the message's sender


def _default_members_of(conversation_id: str) -> list[str]:
    from chalicelib.dm.dal import store

    return [str(m["user_id"]) for m in store().members_of(conversation_id)]


def _default_author_of(conversation_id: str, message_id: str) -> str | None:
    from chalicelib.dm.dal import store

    message = store().get_message(conversation_id, message_id)
    return str(message["sender_id"]) if message else None


def _message_events(change: StreamChange, new: Item, members_of: MembersOf) -> list[DomainEvent]:
    cid, sender = str(new["conversation_id"]), str(new["sender_id"])
    if change.event_name == "INSERT":
        return [
            event_from_change(
                change,
                "message.sent",
                occurred_at=str(new["sent_at"]),
                actor=sender,
                recipients=[m for m in members_of(cid) if m != sender],
                data={"conversation_id": cid, "message": message_view(new), "preview": preview_of(new)},
            )
        ]
    if is_unsend(new, change.old):
        return [
            event_from_change(
                change,
                "message.deleted",
                occurred_at=str(new.get("deleted_at") or new["sent_at"]),
                actor=sender,
                recipients=[m for m in members_of(cid) if m != sender],
                data={"conversation_id": cid, "message_id": new["message_id"]},
            )
        ]
    return []


def _member_events(change: StreamChange, new: Item, members_of: MembersOf) -> list[DomainEvent]:
    cid, uid = str(new["conversation_id"]), str(new["user_id"])
    if change.event_name == "INSERT" and new.get("status") == REQUEST:
        return [
            event_from_change(
                change,
                "conversation.request",
                occurred_at=str(new.get("joined_at", "")),
                actor=new.get("added_by"),
                recipients=[uid],
                data={"conversation_id": cid, "from_user_id": new.get("added_by")},
            )
        ]
    marker = new.get("last_read_message_id")
    if change.event_name == "MODIFY" and marker and marker != (change.old or {}).get("last_read_message_id"):
        return [
            event_from_change(
                change,
                "conversation.read",
                occurred_at=str(new.get("read_at", "")),
                actor=uid,
                recipients=[m for m in members_of(cid) if m != uid],
                data={"conversation_id": cid, "user_id": uid, "message_id": marker},
            )
        ]
    return []


def _report_events(change: StreamChange, new: Item) -> list[DomainEvent]:
    if change.event_name != "INSERT":
        return []
    return [
        event_from_change(
            change,
            "report.created",
            occurred_at=str(new["created_at"]),
            actor=new.get("reporter_id"),
            data={
                k: new.get(k)
                for k in ("report_id", "target_type", "target_id", "conversation_id", "stream_id", "reason")
            },
        )
    ]


def _reaction_events(change: StreamChange, members_of: MembersOf, author_of: AuthorOf) -> list[DomainEvent]:
    """A reaction item appearing (``reaction.added``) or going (``reaction.removed``): a frame to
    the other members; ``author_id`` lets the push reach the message's author only."""
    if change.event_name not in ("INSERT", "REMOVE"):
        return []
    item = change.item
    cid, mid, user = str(item["conversation_id"]), str(item["message_id"]), str(item["user_id"])
    kind = "reaction.added" if change.event_name == "INSERT" else "reaction.removed"
    occurred_ms = int(item.get("reacted_at") or 0) if kind == "reaction.added" else change.approximate_ms
    return [
        event_from_change(
            change,
            kind,
            occurred_at=iso_from_ms(occurred_ms or change.approximate_ms),
            actor=user,
            recipients=[m for m in members_of(cid) if m != user],
            data={
                "conversation_id": cid,
                "message_id": mid,
                "emoji": item["emoji"],
                "user_id": user,
                "author_id": author_of(cid, mid) if kind == "reaction.added" else None,
            },
        )
    ]


def events_from_change(
    change: StreamChange, members_of: MembersOf | None = None, author_of: AuthorOf | None = None
) -> list[DomainEvent]:
    """Domain events implied by one change (``message.sent``, ``message.deleted``,
    ``conversation.read``, ``conversation.request``, ``reaction.added``, ``reaction.removed``,
    ``report.created``)."""
    entity = change.entity()
    lookup = members_of or _default_members_of
    if entity == "reaction":
        return _reaction_events(change, lookup, author_of or _default_author_of)
    new = change.new
    if new is None:
        return []
    if entity == "message":
        return _message_events(change, new, lookup)
    if entity == "member":
        return _member_events(change, new, lookup)
    if entity == "report":
        return _report_events(change, new)
    return []
