"""The inbox read model, maintained from the table's stream.

For every new message, each member's item moves forward: ``last_message``, ``updated_at``, the
GSI1 sort key (inbox order) and, for members other than the sender whose read marker is behind,
``unread_count``. Every write is conditional on the watermark (``last_message_id``) and read
marker it was computed from, so replayed batches and concurrent reads never double-count.
Unsent messages that a member had not read yet are taken off their ``unread_count`` by one
recount of (read marker, watermark] per member and batch, which a replay cannot apply twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from chalicelib.core.streams import StreamChange
from chalicelib.dm.ports import AttachmentDeleter, InboxWriter
from chalicelib.dm.records import Item, is_unsend, last_message_summary

MAX_ATTEMPTS = 5


def _retry(writer: InboxWriter, member: Item, attempt: Callable[[Item], bool], what: str) -> None:
    """Run ``attempt`` on the member until it reports done (True: applied, or nothing to do),
    re-reading the member after each lost race (False)."""
    cid, uid = str(member["conversation_id"]), str(member["user_id"])
    current: Item | None = member
    for _ in range(MAX_ATTEMPTS):
        if current is None or attempt(current):
            return  # done, or the member left meanwhile
        current = writer.get_member(cid, uid)
    raise RuntimeError(f"{what} kept racing for {cid}/{uid}")


def _project(writer: InboxWriter, member: Item, messages: Sequence[Item]) -> None:
    """Apply the batch's messages (sorted by id) to one member, re-reading on a lost race."""
    uid = member["user_id"]

    def attempt(current: Item) -> bool:
        watermark = current.get("last_message_id")
        read = current.get("last_read_message_id")
        new = [m for m in messages if watermark is None or m["message_id"] > watermark]
        if not new:
            return True  # already applied (replay)
        unread = sum(1 for m in new if m["sender_id"] != uid and (read is None or m["message_id"] > read))
        return writer.project_member(
            current, last_message=last_message_summary(new[-1]), unread_increment=unread
        )

    _retry(writer, member, attempt, "inbox projection")


def _counted_unread(member: Item, unsent: Mapping[str, str]) -> bool:
    """Whether any unsent message (id → sender) was counted unread for ``member``: sent by someone
    else, projected (≤ watermark) and after the read marker."""
    watermark, read = member.get("last_message_id"), member.get("last_read_message_id")
    if watermark is None:
        return False  # nothing projected yet
    return any(
        sender != member["user_id"] and mid <= watermark and (read is None or mid > read)
        for mid, sender in unsent.items()
    )


def _recount_after_unsend(writer: InboxWriter, member: Item, unsent: Mapping[str, str]) -> None:
    """Unsent messages (id → sender) that were counted unread for ``member`` stop counting.

    One recount (not a decrement) of (read marker, watermark] covers all of them, and a
    replayed stream record cannot subtract twice.
    """
    cid, uid = str(member["conversation_id"]), str(member["user_id"])

    def attempt(current: Item) -> bool:
        if not _counted_unread(current, unsent):
            return True
        read = current.get("last_read_message_id")
        unread = writer.count_from_others(cid, uid, read, str(current["last_message_id"]))
        return writer.set_unread(current, unread)

    _retry(writer, member, attempt, "unread recount")


def apply(
    changes: list[StreamChange], writer: InboxWriter | None = None, media: AttachmentDeleter | None = None
) -> None:
    """Update the inbox for a batch of changes, and delete the attachment objects of unsent
    messages (idempotent: batches may be replayed; deleting a deleted object is a no-op)."""
    sent: dict[str, list[Item]] = defaultdict(list)
    unsent: dict[str, dict[str, str]] = defaultdict(dict)  # conversation → message id → sender
    gone: list[tuple[str, str]] = []  # (owner, attachment id) of unsent messages
    for change in changes:
        if change.entity() != "message" or change.new is None:
            continue
        cid = str(change.new["conversation_id"])
        if change.event_name == "INSERT":
            sent[cid].append(change.new)
        elif is_unsend(change.new, change.old):
            unsent[cid][str(change.new["message_id"])] = str(change.new["sender_id"])
            old = change.old or {}
            if old.get("attachment_id"):
                gone.append((str(old.get("sender_id") or change.new["sender_id"]), str(old["attachment_id"])))
    if gone:
        if media is None:
            from chalicelib.dm.dal import media as bucket

            media = bucket()
        for owner, attachment_id in dict.fromkeys(gone):
            media.delete(owner, attachment_id)
    if not sent and not unsent:
        return
    if writer is None:
        from chalicelib.dm.dal import store

        writer = store()
    for cid, messages in sent.items():
        ordered = sorted({m["message_id"]: m for m in messages}.values(), key=lambda m: m["message_id"])
        for member in writer.members_of(cid):
            if member.get("deleted"):  # a deleted account's membership gets no inbox (issue 20)
                continue
            _project(writer, member, ordered)
    for cid, unsent_messages in unsent.items():
        for mid in unsent_messages:
            writer.mark_last_deleted(cid, None, mid)
            writer.hide_reply_previews(cid, mid)  # repeats the unsend route's own fix-up
        # Read after the sends above were projected; recounts only change unread counts.
        for member in writer.members_of(cid):
            if member.get("deleted"):
                continue
            last = member.get("last_message_id")
            if last in unsent_messages:  # the write is conditional on it anyway
                writer.mark_last_deleted(cid, str(member["user_id"]), str(last))
            _recount_after_unsend(writer, member, unsent_messages)
