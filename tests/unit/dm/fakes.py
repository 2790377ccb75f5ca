"""In-memory fakes of the dm repositories (same rules as the DynamoDB implementation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.core.errors import ConflictError
from chalicelib.dm.errors import (
    AttachmentInvalidError,
    ConversationNotFoundError,
    DirectExistsError,
    DuplicateClientMessageError,
    GroupReplayError,
    MessageNotFoundError,
    MessagingForbiddenError,
    NotSenderError,
    RequestPendingError,
    SendRateLimitedError,
)
from chalicelib.dm.logic import GroupReplayRecord, SendPlan
from chalicelib.dm.records import ACTIVE, ConversationState, Item, Shape, folder_of, last_message_summary
from chalicelib.dm.uploads import PendingUpload
from chalicelib.social.access import PairState


class FakeGraph:
    """Pair states from plain sets: friends, blocks (either way), policies."""

    def __init__(self) -> None:
        self.friends: set[frozenset[str]] = set()
        self.blocks: set[tuple[str, str]] = set()
        self.policies: dict[str, str] = {}

    def pair_states(self, sender: str, recipients: Sequence[str]) -> dict[str, PairState]:
        """Pair state per recipient."""
        return {
            r: PairState(
                sender_follows=frozenset((sender, r)) in self.friends,
                recipient_follows=frozenset((sender, r)) in self.friends,
                sender_blocked_recipient=(sender, r) in self.blocks,
                recipient_blocked_sender=(r, sender) in self.blocks,
                recipient_policy=self.policies.get(r, "friends"),
            )
            for r in recipients
        }


class FakeStore:
    """``DmStore`` and ``InboxWriter`` in memory."""

    def __init__(self, graph: FakeGraph | None = None) -> None:
        self.graph = graph or FakeGraph()
        self.pairs: dict[frozenset[str], str] = {}
        self.metas_: dict[str, Item] = {}
        self.members: dict[str, dict[str, Item]] = {}
        self.messages: dict[str, dict[str, Item]] = {}
        self.guards: dict[tuple[str, str, str], Item] = {}
        self.group_keys: dict[tuple[str, str], GroupReplayRecord] = {}
        self.windows: dict[tuple[str, int], int] = {}
        self.calls: list[str] = []
        self.uploads: FakeUploads | None = None  # set: sends check and mark upload records

    def find_direct(self, user_a: str, user_b: str) -> str | None:
        """Pair pointer."""
        return self.pairs.get(frozenset((user_a, user_b)))

    def create_conversation(
        self,
        meta: Item,
        members: Sequence[Item],
        pair: tuple[str, str] | None,
        replay: GroupReplayRecord | None = None,
    ) -> None:
        """Atomic create."""
        cid = meta["conversation_id"]
        if pair is not None:
            key = frozenset(pair)
            if key in self.pairs:
                raise DirectExistsError(self.pairs[key])
            self.pairs[key] = cid
        if replay is not None:
            scope = (meta["created_by"], replay.idem_key)
            if scope in self.group_keys:
                done = self.group_keys[scope]
                raise GroupReplayError(done.fingerprint, done.response)
            self.group_keys[scope] = replay
        self.metas_[cid] = dict(meta)
        self.members[cid] = {m["user_id"]: dict(m) for m in members}
        self.messages[cid] = {}

    def load(self, conversation_id: str) -> ConversationState | None:
        """META + members."""
        meta = self.metas_.get(conversation_id)
        if meta is None:
            return None
        return ConversationState(dict(meta), {u: dict(m) for u, m in self.members[conversation_id].items()})

    def shape(self, conversation_id: str) -> Shape | None:
        """Kind and direct members."""
        meta = self.metas_.get(conversation_id)
        if meta is None:
            return None
        return Shape(meta["kind"], tuple(meta["member_ids"]) if meta["kind"] == "direct" else ())

    def send(self, plan: SendPlan) -> None:
        """Same precedence as the DynamoDB transaction's cancellation handling."""
        self.calls.append("send")
        cid, sender = plan.conversation_id, plan.sender_id
        member = self.members.get(cid, {}).get(sender)
        if member is None:
            raise ConversationNotFoundError()
        guard = self.guards.get((cid, sender, plan.message["client_message_id"]))
        if guard is not None:
            raise DuplicateClientMessageError(guard["message_id"], guard["fingerprint"])
        record = None
        if plan.attachment_id is not None and self.uploads is not None:
            record = self.uploads.records.get((sender, plan.attachment_id))
            if record is None or record.get("message_id"):
                raise AttachmentInvalidError()
        if plan.peer_id and (
            (sender, plan.peer_id) in self.graph.blocks or (plan.peer_id, sender) in self.graph.blocks
        ):
            raise MessagingForbiddenError()
        limit, count = member.get("send_limit"), member.get("sent_count", 0)
        if member["status"] != ACTIVE or (limit is not None and count >= limit):
            raise RequestPendingError()
        window = (sender, plan.window)
        if self.windows.get(window, 0) >= plan.rate_limit:
            raise SendRateLimitedError(retry_after=plan.retry_after_s)
        self.windows[window] = self.windows.get(window, 0) + 1
        member["sent_count"] = count + 1
        self.guards[(cid, sender, plan.message["client_message_id"])] = {
            "message_id": plan.message["message_id"],
            "fingerprint": plan.fingerprint,
        }
        self.messages[cid][plan.message["message_id"]] = dict(plan.message)
        self.metas_[cid]["last_message"] = last_message_summary(plan.message)
        if record is not None:
            record["message_id"] = plan.message["message_id"]

    def get_message(self, conversation_id: str, message_id: str) -> Item | None:
        """One message."""
        return self.messages.get(conversation_id, {}).get(message_id)

    def get_member(self, conversation_id: str, user_id: str) -> Item | None:
        """One member."""
        found = self.members.get(conversation_id, {}).get(user_id)
        return dict(found) if found else None

    def history(
        self, conversation_id: str, limit: int, start_after: str | None, newer_than: str | None
    ) -> tuple[list[Item], str | None]:
        """Same ordering as the Query."""
        ids = sorted(self.messages.get(conversation_id, {}))
        if newer_than is None:
            ids = ids[::-1]
            if start_after:
                ids = [i for i in ids if f"MSG#{i}" < start_after]
        else:
            ids = [i for i in ids if i > newer_than and (not start_after or f"MSG#{i}" > start_after)]
        page = ids[:limit]
        more = len(ids) > limit
        return [self.messages[conversation_id][i] for i in page], (f"MSG#{page[-1]}" if more else None)

    def read_context(self, conversation_id: str, user_id: str, message_id: str) -> tuple[Item | None, bool]:
        """Member + message existence."""
        return self.get_member(conversation_id, user_id), message_id in self.messages.get(conversation_id, {})

    def count_from_others(
        self, conversation_id: str, user_id: str, after_id: str | None, through_id: str
    ) -> int:
        """Count in (after, through], tombstones excluded."""
        return sum(
            1
            for mid, m in self.messages[conversation_id].items()
            if (after_id or "") < mid <= through_id
            and m["sender_id"] != user_id
            and m.get("type") != "deleted"
        )

    def set_read(
        self,
        conversation_id: str,
        user_id: str,
        message_id: str,
        unread: int,
        watermark: str | None,
        now_ms: int,
    ) -> bool:
        """Conditional marker move."""
        member = self.members[conversation_id].get(user_id)
        if member is None or member.get("last_message_id") != watermark:
            return False
        current = member.get("last_read_message_id")
        if current is not None and current >= message_id:
            return False
        member.update(last_read_message_id=message_id, unread_count=unread)
        return True

    def set_muted(self, conversation_id: str, user_id: str, muted: bool) -> bool:
        """Mute."""
        member = self.members.get(conversation_id, {}).get(user_id)
        if member is None:
            return False
        member["muted"] = muted
        return True

    def accept(self, conversation_id: str, user_id: str, other_ids: Sequence[str]) -> None:
        """Accept."""
        self.members[conversation_id][user_id]["status"] = ACTIVE
        for other in other_ids:
            self.members[conversation_id][other].pop("send_limit", None)

    def hide(self, conversation_id: str, user_id: str) -> None:
        """Hide."""
        self.members[conversation_id][user_id]["is_hidden"] = True

    def add_members(self, conversation_id: str, old_ids: Sequence[str], new_members: Sequence[Item]) -> None:
        """Optimistic add."""
        if list(self.metas_[conversation_id]["member_ids"]) != list(old_ids):
            raise ConflictError()
        for m in new_members:
            self.members[conversation_id][m["user_id"]] = dict(m)
        self.metas_[conversation_id]["member_ids"] = [*old_ids, *(m["user_id"] for m in new_members)]

    def remove_member(self, conversation_id: str, user_id: str, old_ids: Sequence[str]) -> None:
        """Optimistic remove."""
        self.members[conversation_id].pop(user_id)
        self.metas_[conversation_id]["member_ids"] = [m for m in old_ids if m != user_id]

    def unsend(self, conversation_id: str, message_id: str, caller: str, now_ms: int) -> None:
        """Tombstone."""
        if caller not in self.members.get(conversation_id, {}):
            raise ConversationNotFoundError()
        msg = self.messages[conversation_id].get(message_id)
        if msg is None:
            raise MessageNotFoundError()
        if msg["sender_id"] != caller:
            raise NotSenderError()
        for attr in ("text", "attachment_id", "video"):
            msg.pop(attr, None)
        msg["type"] = "deleted"

    def inbox(
        self, user_id: str, folder: str, limit: int, start_after: dict[str, Any] | None
    ) -> tuple[list[Item], dict[str, Any] | None]:
        """Members of the folder, newest activity first."""
        rows = [
            m
            for members in self.members.values()
            for m in members.values()
            if m["user_id"] == user_id and folder_of(m["status"]) == folder and not m.get("is_hidden")
        ]
        rows.sort(key=lambda m: m.get("last_message_id") or m["conversation_id"], reverse=True)
        return [dict(r) for r in rows[:limit]], None

    def metas(self, conversation_ids: Sequence[str]) -> dict[str, Item]:
        """META by id."""
        return {c: dict(self.metas_[c]) for c in conversation_ids if c in self.metas_}

    def hide_reply_previews(self, conversation_id: str, message_id: str) -> int:
        """Quotes of the unsent message become the deleted preview."""
        n = 0
        for msg in self.messages.get(conversation_id, {}).values():
            if (msg.get("reply_to") or {}).get("message_id") == message_id:
                msg["reply_to"] = {"message_id": message_id, "deleted": True}
                n += 1
        return n

    def metas_and_messages(
        self, conversation_ids: Sequence[str], messages: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, Item], dict[str, Item]]:
        """META by id and messages by id."""
        found = {m: dict(self.messages[c][m]) for c, m in messages if m in self.messages.get(c, {})}
        return self.metas(conversation_ids), found

    # --- InboxWriter ---

    def members_of(self, conversation_id: str) -> list[Item]:
        """Member items."""
        return [dict(m) for m in self.members.get(conversation_id, {}).values()]

    def _unchanged(self, member: Item) -> Item | None:
        """The stored member if its watermark and read marker are still those of ``member``."""
        stored = self.members[member["conversation_id"]].get(member["user_id"])
        if stored is None:
            return None
        for attr in ("last_message_id", "last_read_message_id"):
            if stored.get(attr) != member.get(attr):
                return None
        return stored

    def project_member(self, member: Item, *, last_message: Item, unread_increment: int) -> bool:
        """Conditional forward move."""
        stored = self._unchanged(member)
        if stored is None:
            return False
        stored.update(
            last_message=last_message,
            last_message_id=last_message["message_id"],
            updated_at=last_message["sent_at"],
            unread_count=stored.get("unread_count", 0) + unread_increment,
        )
        stored.pop("is_hidden", None)
        return True

    def set_unread(self, member: Item, unread: int) -> bool:
        """Conditional recount."""
        stored = self._unchanged(member)
        if stored is None:
            return False
        stored["unread_count"] = unread
        return True

    def mark_last_deleted(self, conversation_id: str, user_id: str | None, message_id: str) -> None:
        """Tombstone the shown last message."""
        target = self.metas_[conversation_id] if user_id is None else self.members[conversation_id][user_id]
        if (target.get("last_message") or {}).get("message_id") == message_id:
            target["last_message"] = {**target["last_message"], "type": "deleted", "preview": ""}


class FakeMedia:
    """Uploaded objects by (owner, attachment id)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[str, int]] = {}
        self.presigned: list[tuple[str, str, str, int, int]] = []
        self.deleted: list[tuple[str, str]] = []

    def head(self, owner_id: str, attachment_id: str) -> tuple[str, int] | None:
        """HEAD."""
        return self.objects.get((owner_id, attachment_id))

    def delete(self, owner_id: str, attachment_id: str) -> None:
        """Delete (idempotent), remembering what was asked."""
        self.objects.pop((owner_id, attachment_id), None)
        self.deleted.append((owner_id, attachment_id))

    def presign_upload(
        self, owner_id: str, attachment_id: str, content_type: str, size_bytes: int, expires_s: int
    ) -> Item:
        """Record the request."""
        self.presigned.append((owner_id, attachment_id, content_type, size_bytes, expires_s))
        return {"url": "https://upload.test", "fields": {"key": f"attachments/{owner_id}/{attachment_id}"}}

    def download_url(self, owner_id: str, attachment_id: str, expires_s: int) -> str:
        """Fake URL carrying the expiry."""
        return f"https://media.test/attachments/{owner_id}/{attachment_id}?expires={expires_s}"


class FakeUploads:
    """``uploads.UploadStore``: records by (owner, id) and day quotas."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], Item] = {}
        self.quota: dict[tuple[str, int], tuple[int, int]] = {}

    def record(
        self,
        owner_id: str,
        attachment_id: str,
        size_bytes: int,
        *,
        day: int,
        max_uploads: int,
        max_bytes: int,
        due_hour: int,
        now_ms: int,
    ) -> bool:
        """Charge and record, or refuse."""
        count, used = self.quota.get((owner_id, day), (0, 0))
        if count >= max_uploads or used + size_bytes > max_bytes:
            return False
        self.quota[(owner_id, day)] = (count + 1, used + size_bytes)
        self.records[(owner_id, attachment_id)] = {"due_hour": due_hour}
        return True

    def due(self, hour: int) -> list[PendingUpload]:
        """Pending records of the due hour."""
        return [
            PendingUpload(owner, aid)
            for (owner, aid), r in self.records.items()
            if r["due_hour"] == hour and not r.get("message_id")
        ]

    def forget(self, upload: PendingUpload) -> bool:
        """Drop a still-pending record."""
        record = self.records.get((upload.owner_id, upload.attachment_id))
        if record is None or record.get("message_id"):
            return False
        del self.records[(upload.owner_id, upload.attachment_id)]
        return True
