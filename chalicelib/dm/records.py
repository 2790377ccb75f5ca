"""Pure builders and views of dm items (no I/O): what a conversation, member and message hold,
and how each is shown to clients. Keys are added by ``dal.py``; logic and dal share these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.clock import iso_from_ms
from chalicelib.dm.models import PREVIEW_CHARS

Item = dict[str, Any]

ACTIVE, REQUEST = "active", "request"
DIRECT, GROUP = "direct", "group"
FOLDERS = {"inbox": ACTIVE, "requests": REQUEST}
# GSI1 folder of a hidden direct conversation: never listed, but indexed (account deletion).
HIDDEN_FOLDER = "hidden"
REQUEST_SEND_LIMIT = 1  # messages a requester may send before the recipient accepts


def folder_of(status: str) -> str:
    """Inbox folder of a member status (``request`` → ``requests``)."""
    return "requests" if status == REQUEST else "inbox"


@dataclass(frozen=True)
class Shape:
    """What never changes about a conversation: its kind and, for a direct one, its two members."""

    kind: str
    member_ids: tuple[str, ...] = ()

    def peer_of(self, user_id: str) -> str | None:
        """The other member of a direct conversation (None for groups)."""
        if self.kind != DIRECT:
            return None
        others = [m for m in self.member_ids if m != user_id]
        return others[0] if others else None


@dataclass
class ConversationState:
    """META plus every member item of a conversation (one Query)."""

    meta: Item
    members: dict[str, Item] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``direct`` or ``group``."""
        return str(self.meta.get("kind", GROUP))

    def role_of(self, user_id: str) -> str:
        """``admin`` for a group's creator, ``member`` otherwise."""
        return str(self.members.get(user_id, {}).get("role", "member"))


def meta_record(
    conversation_id: str, kind: str, title: str | None, created_by: str, member_ids: list[str], now_ms: int
) -> Item:
    """The conversation META item's attributes."""
    return {
        "entity": "conversation",
        "conversation_id": conversation_id,
        "kind": kind,
        "title": title,
        "created_by": created_by,
        "created_at": iso_from_ms(now_ms),
        "member_ids": member_ids,
        "last_message": None,
        "updated_at": iso_from_ms(now_ms),
    }


def member_record(
    conversation_id: str,
    user_id: str,
    *,
    role: str,
    status: str,
    added_by: str,
    now_ms: int,
    send_limit: int | None = None,
) -> Item:
    """A member item's attributes. ``send_limit`` caps what an un-accepted request's sender may send."""
    return {
        "entity": "member",
        "conversation_id": conversation_id,
        "user_id": user_id,
        "role": role,
        "status": status,
        "muted": False,
        "unread_count": 0,
        "added_by": added_by,
        "joined_at": iso_from_ms(now_ms),
        "updated_at": iso_from_ms(now_ms),
        "send_limit": send_limit,
    }


def direct_records(
    conversation_id: str, starter: str, other: str, *, request: bool, now_ms: int
) -> tuple[Item, list[Item]]:
    """META and the two member items of a new direct conversation that ``starter`` opens.

    When it is a message ``request``, ``other`` finds it in their requests and ``starter`` may
    send ``REQUEST_SEND_LIMIT`` messages until it is accepted.
    """
    meta = meta_record(conversation_id, DIRECT, None, starter, sorted([starter, other]), now_ms)
    members = [
        member_record(
            conversation_id,
            starter,
            role="member",
            status=ACTIVE,
            added_by=starter,
            now_ms=now_ms,
            send_limit=REQUEST_SEND_LIMIT if request else None,
        ),
        member_record(
            conversation_id,
            other,
            role="member",
            status=REQUEST if request else ACTIVE,
            added_by=starter,
            now_ms=now_ms,
        ),
    ]
    return meta, members


def message_record(
    *,
    conversation_id: str,
    message_id: str,
    sender_id: str,
    client_message_id: str,
    now_ms: int,
    text: str | None = None,
    attachment: Item | None = None,
    video: Item | None = None,
    reply_to: Item | None = None,
    forwarded: bool = False,
    attachment_owner: str | None = None,
) -> Item:
    """A message item's attributes: lean (no member lists) so a 500-char text stays under 1 KB.

    ``reply_to`` is the quoted message's preview (``reply_preview``); ``forwarded`` marks a copy
    made by ``POST /v1/messages/forward``.
    """
    if video is not None:
        kind = "video_share"
    elif attachment is not None:
        kind = "attachment"
    else:
        kind = "text"
    record: Item = {
        "entity": "message",
        "message_id": message_id,
        "conversation_id": conversation_id,
        "sender_id": sender_id,
        "type": kind,
        "text": text,
        "client_message_id": client_message_id,
        "sent_at": iso_from_ms(now_ms),
        "video": video,
    }
    if attachment is not None:
        record["attachment_id"] = attachment["attachment_id"]
        record["attachment_type"] = attachment["content_type"]
        record["attachment_size"] = attachment["size_bytes"]
        if attachment_owner is not None and attachment_owner != sender_id:
            record["attachment_owner"] = attachment_owner  # a forward references the original upload
    if reply_to is not None:
        record["reply_to"] = reply_to
    if forwarded:
        record["forwarded"] = True
    return record


# --- reactions: the message item carries its own aggregate ----------------------------------
# ``rx:<emoji>`` is the string set of users who reacted with that emoji (its size is the exact
# count: set ADD/DELETE are idempotent and atomic), ``rxt:<emoji>`` the epoch ms of its first
# use (the display order), ``rx_emoji`` the set of emoji present (≤ MAX_DISTINCT_REACTIONS).
REACTION_USERS = "rx:"
REACTION_FIRST = "rxt:"
REACTION_EMOJI = "rx_emoji"
MAX_DISTINCT_REACTIONS = 30


def reactions_view(message: Item, viewer: str | None) -> list[Item]:
    """``[{"emoji", "count", "me"}]`` ordered by first use (ties: by emoji)."""
    rows: list[tuple[int, str, int, bool]] = []
    for emoji in message.get(REACTION_EMOJI) or ():
        users = message.get(REACTION_USERS + emoji) or set()
        if users:
            first = message.get(REACTION_FIRST + emoji)
            rows.append((int(first) if first is not None else 0, emoji, len(users), viewer in users))
    rows.sort()
    return [{"emoji": e, "count": n, "me": me} for _, e, n, me in rows]


def reply_preview(original: Item) -> Item:
    """What a reply shows of the message it quotes (text ≤ 100 characters)."""
    if original.get("type") == "deleted":
        return {"message_id": original["message_id"], "deleted": True}
    preview: Item = {
        "message_id": original["message_id"],
        "sender_id": original["sender_id"],
        "type": original["type"],
    }
    if original.get("text"):
        preview["text"] = str(original["text"])[:PREVIEW_CHARS]
    return preview


def is_unsend(new: Item, old: Item | None) -> bool:
    """Whether a message change is its unsend (it just became a ``deleted`` tombstone)."""
    return new.get("type") == "deleted" and (old or {}).get("type") != "deleted"


def preview_of(message: Item) -> str:
    """At most 100 characters of a message's text (empty for deleted or text-less messages)."""
    if message.get("type") == "deleted":
        return ""
    return str(message.get("text") or "")[:PREVIEW_CHARS]


def last_message_summary(message: Item) -> Item:
    """The inbox's ``last_message`` for a message."""
    return {
        "message_id": message["message_id"],
        "sender_id": message["sender_id"],
        "type": message["type"],
        "preview": preview_of(message),
        "sent_at": message["sent_at"],
    }


def message_view(message: Item, viewer: str | None = None) -> Item:
    """A message as clients see it, without presigned URLs (the outbox publishes exactly this).

    ``reactions`` mark the ones ``viewer`` made with ``me``.
    """
    deleted = message.get("type") == "deleted"
    view: Item = {
        "message_id": message["message_id"],
        "conversation_id": message["conversation_id"],
        "sender_id": message["sender_id"],
        "type": message["type"],
        "text": None if deleted else message.get("text"),
        "client_message_id": message.get("client_message_id"),
        "sent_at": message["sent_at"],
    }
    if not deleted and message.get("attachment_id"):
        view["attachment"] = {
            "attachment_id": message["attachment_id"],
            "content_type": message.get("attachment_type"),
            "size_bytes": message.get("attachment_size"),
        }
        if message.get("attachment_owner"):
            view["attachment"]["owner_id"] = message["attachment_owner"]
    if not deleted and message.get("video"):
        view["video"] = message["video"]
    if not deleted and message.get("reply_to"):
        view["reply_to"] = message["reply_to"]
    if message.get("forwarded"):
        view["forwarded"] = True
    view["reactions"] = [] if deleted else reactions_view(message, viewer)
    return view


def members_view(state: ConversationState) -> list[Item]:
    """Members with their role and read marker (read receipts), in a stable order."""
    return [
        {"user_id": uid, "deleted": True}
        if m.get("deleted")
        else {
            "user_id": uid,
            "role": str(m.get("role", "member")),
            "last_read_message_id": m.get("last_read_message_id"),
        }
        for uid, m in sorted(state.members.items())
    ]


def conversation_view(state: ConversationState, caller: str) -> Item:
    """``GET /v1/conversations/{id}`` for a member."""
    me = state.members[caller]
    return {
        "conversation_id": state.meta["conversation_id"],
        "kind": state.kind,
        "title": state.meta.get("title"),
        "members": members_view(state),
        "created_at": state.meta["created_at"],
        "status": str(me.get("status", ACTIVE)),
        "muted": bool(me.get("muted", False)),
    }


def members_from_meta(meta: Item) -> list[Item]:
    """Members of an inbox row, from the META item (roles: a group's creator is its admin)."""
    creator = meta.get("created_by")
    group = meta.get("kind") == GROUP
    deleted = set(meta.get("deleted_member_ids") or ())
    return [
        {"user_id": uid, "deleted": True}
        if uid in deleted
        else {"user_id": uid, "role": "admin" if group and uid == creator else "member"}
        for uid in sorted(meta.get("member_ids") or [])
    ]


def inbox_row(member: Item, meta: Item, last: Item | None = None, viewer: str | None = None) -> Item:
    """One inbox entry: the caller's member item (projected by the stream) plus the META item.

    ``last`` is the last message as stored now: its reactions (and an unsend) show at once.
    """
    last_message = member.get("last_message")
    if isinstance(last_message, dict) and last is not None:
        last_message = {
            **last_message,
            "reactions": [] if last.get("type") == "deleted" else reactions_view(last, viewer),
        }
        if last.get("type") == "deleted":
            last_message.update(type="deleted", preview="")
    elif isinstance(last_message, dict):
        last_message = {**last_message, "reactions": []}
    return {
        "conversation_id": member["conversation_id"],
        "kind": meta.get("kind"),
        "title": meta.get("title"),
        "members": members_from_meta(meta),
        "status": member.get("status", ACTIVE),
        "muted": bool(member.get("muted", False)),
        "unread_count": int(member.get("unread_count", 0) or 0),
        "last_message": last_message,
        "updated_at": member.get("updated_at") or meta.get("updated_at"),
    }
