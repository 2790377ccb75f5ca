"""The inbox read model, maintained from the table's stream.

For every new message, each member's item moves forward: ``last_message``, ``updated_at``, the
GSI1 sort key (inbox order) and, for members other than the sender whose read marker is behind,
``unread_count``. Every write is conditional on the watermark (``last_message_id``) and read
marker it was computed from, so replayed batches and concurrent reads never double-count.
An unsent message that a member had not read yet is taken off their ``unread_count`` by a
recount of (read marker, watermark], which a replay cannot apply twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from functions.core.streams import StreamChange
from functions.dm.records import Item, last_message_summary

MAX_ATTEMPTS = 5


class InboxWriter(Protocol):
    """What the projection needs from the table (``dal.DynamoDmStore``)."""

    def members_of(self, conversation_id: str) -> list[Item]:
        """Member items of a conversation (consistent)."""
        ...

    def get_member(self, conversation_id: str, user_id: str) -> Item | None:
        """One member item (consistent)."""
        ...

    def project_member(self, member: Item, *, last_message: Item, unread_increment: int) -> bool:
        """Conditional forward move; False when the member changed since it was read."""
        ...

    def mark_last_deleted(self, conversation_id: str, user_id: str | None, message_id: str) -> None:
        """Show an unsent last message as deleted (META when ``user_id`` is None)."""
        ...

    def count_from_others(
        self, conversation_id: str, user_id: str, after_id: str | None, through_id: str
    ) -> int:
        """Messages from others (not unsent) in (after, through]."""
        ...

    def set_unread(self, member: Item, unread: int) -> bool:
        """Store a recount; False when the member's marker or watermark moved meanwhile."""
        ...


def _project(writer: InboxWriter, member: Item, messages: Sequence[Item]) -> None:
    """Apply the batch's messages (sorted by id) to one member, re-reading on a lost race."""
    uid = member["user_id"]
    current: Item | None = member
    for _ in range(MAX_ATTEMPTS):
        if current is None:
            return  # the member left meanwhile
        watermark = current.get("last_message_id")
        read = current.get("last_read_message_id")
        new = [m for m in messages if watermark is None or m["message_id"] > watermark]
        if not new:
            return  # already applied (replay)
        unread = sum(1 for m in new if m["sender_id"] != uid and (read is None or m["message_id"] > read))
        if writer.project_member(
            current, last_message=last_message_summary(new[-1]), unread_increment=unread
        ):
            return
        current = writer.get_member(member["conversation_id"], uid)
    raise RuntimeError(f"inbox projection kept racing for {member['conversation_id']}/{uid}")


def _recount_after_unsend(writer: InboxWriter, member: Item, message_id: str, sender_id: str) -> None:
    """An unsent message that was counted unread for ``member`` stops counting.

    A recount (not a decrement) so that a replayed stream record cannot subtract twice.
    """
    uid = str(member["user_id"])
    current: Item | None = member
    for _ in range(MAX_ATTEMPTS):
        if current is None or uid == sender_id:
            return
        watermark, read = current.get("last_message_id"), current.get("last_read_message_id")
        if watermark is None or watermark < message_id or (read is not None and read >= message_id):
            return  # never counted: not projected yet, or already read
        unread = writer.count_from_others(str(member["conversation_id"]), uid, read, watermark)
        if writer.set_unread(current, unread):
            return
        current = writer.get_member(str(member["conversation_id"]), uid)
    raise RuntimeError(f"unread recount kept racing for {member['conversation_id']}/{uid}")


def apply(changes: list[StreamChange], writer: InboxWriter | None = None) -> None:
    """Update the inbox for a batch of changes (idempotent: batches may be replayed)."""
    sent: dict[str, list[Item]] = defaultdict(list)
    unsent: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for change in changes:
        if change.entity() != "message" or change.new is None:
            continue
        cid = str(change.new["conversation_id"])
        if change.event_name == "INSERT":
            sent[cid].append(change.new)
        elif change.new.get("type") == "deleted" and (change.old or {}).get("type") != "deleted":
            unsent[cid].append((str(change.new["message_id"]), str(change.new["sender_id"])))
    if not sent and not unsent:
        return
    if writer is None:
        from functions.dm.dal import store

        writer = store()
    for cid, messages in sent.items():
        ordered = sorted({m["message_id"]: m for m in messages}.values(), key=lambda m: m["message_id"])
        for member in writer.members_of(cid):
            _project(writer, member, ordered)
    for cid, unsent_messages in unsent.items():
        for mid, sender_id in unsent_messages:
            writer.mark_last_deleted(cid, None, mid)
            for member in writer.members_of(cid):  # fresh: the previous recount moved them
                writer.mark_last_deleted(cid, str(member["user_id"]), mid)
                _recount_after_unsend(writer, member, mid, sender_id)
