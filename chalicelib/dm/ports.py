"""What the dm logic needs from storage and services, as Protocols (the dal and
clients implement them; unit tests use in-memory fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.dm.forwarding import ForwardPlan, ForwardSnapshot
    from chalicelib.dm.logic import GroupReplayRecord, SendPlan
    from chalicelib.dm.records import (
        ConversationState,
        Item,
        Shape,
    )
    from chalicelib.dm.uploads import PendingUpload


class DmStore(Protocol):
    """Conversation, member and message persistence (``dal.DynamoDmStore``)."""

    def find_direct(self, user_a: str, user_b: str) -> str | None:
        """Conversation id of the pair's direct conversation, if any."""
        ...

    def create_conversation(
        self,
        meta: Item,
        members: Sequence[Item],
        pair: tuple[str, str] | None,
        replay: GroupReplayRecord | None = None,
    ) -> None:
        """Write META and members atomically (raise ``DirectExistsError`` if the pair won a race,
        ``GroupReplayError`` if ``replay``'s key was used before)."""
        ...

    def load(self, conversation_id: str) -> ConversationState | None:
        """META and members (one Query), or None."""
        ...

    def shape(self, conversation_id: str) -> Shape | None:
        """Kind and (direct) members; immutable, so implementations may cache it."""
        ...

    def send(self, plan: SendPlan) -> None:
        """The one send transaction; raises domain errors or ``DuplicateClientMessageError``."""
        ...

    def get_message(self, conversation_id: str, message_id: str) -> Item | None:
        """One message."""
        ...

    def get_member(self, conversation_id: str, user_id: str) -> Item | None:
        """One member item (consistent read)."""
        ...

    def history(
        self, conversation_id: str, limit: int, start_after: str | None, newer_than: str | None
    ) -> tuple[list[Item], str | None]:
        """Messages newest first, or (``newer_than``) oldest first after that id; plus the next position."""
        ...

    def read_context(self, conversation_id: str, user_id: str, message_id: str) -> tuple[Item | None, bool]:
        """The member item and whether the message exists (one batched read)."""
        ...

    def count_from_others(
        self, conversation_id: str, user_id: str, after_id: str | None, through_id: str
    ) -> int:
        """Messages in (after_id, through_id] not sent by ``user_id`` (unsent ones excluded)."""
        ...

    def set_read(
        self,
        conversation_id: str,
        user_id: str,
        message_id: str,
        unread: int,
        watermark: str | None,
        now_ms: int,
    ) -> bool:
        """Move the read marker forward (``read_at`` = ``now_ms``) if the projection watermark is
        still ``watermark``."""
        ...

    def set_muted(self, conversation_id: str, user_id: str, muted: bool) -> bool:
        """Set ``muted``; False when the caller is not a member."""
        ...

    def accept(self, conversation_id: str, user_id: str, other_ids: Sequence[str]) -> None:
        """Make the member active and lift the request limit of the others."""
        ...

    def hide(self, conversation_id: str, user_id: str) -> None:
        """Take a direct conversation out of the member's inbox until the next message."""
        ...

    def add_members(self, conversation_id: str, old_ids: Sequence[str], new_members: Sequence[Item]) -> None:
        """Add members if the member list is still ``old_ids`` (else ``ConflictError``)."""
        ...

    def remove_member(self, conversation_id: str, user_id: str, old_ids: Sequence[str]) -> None:
        """Remove a member if the member list is still ``old_ids``."""
        ...

    def unsend(self, conversation_id: str, message_id: str, caller: str, now_ms: int) -> None:
        """Turn the caller's message into a ``deleted`` tombstone (``deleted_at`` = ``now_ms``)."""
        ...

    def hide_reply_previews(self, conversation_id: str, message_id: str) -> int:
        """Replace the quote of ``message_id`` in every reply by the deleted preview."""
        ...

    def inbox(
        self, user_id: str, folder: str, limit: int, start_after: dict[str, Any] | None
    ) -> tuple[list[Item], dict[str, Any] | None]:
        """Member items of the folder, newest activity first."""
        ...

    def metas(self, conversation_ids: Sequence[str]) -> dict[str, Item]:
        """META items by id (one batched read)."""
        ...

    def metas_and_messages(
        self, conversation_ids: Sequence[str], messages: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, Item], dict[str, Item]]:
        """META items by conversation id and messages by message id, in one batched read."""
        ...


class Media(Protocol):
    """The media bucket (``dal.S3Media``)."""

    def head(self, owner_id: str, attachment_id: str) -> tuple[str, int] | None:
        """(content type, size) of an uploaded attachment, or None."""
        ...

    def presign_upload(
        self, owner_id: str, attachment_id: str, content_type: str, size_bytes: int, expires_s: int
    ) -> Item:
        """``{"url", "fields"}`` of a presigned POST."""
        ...

    def download_url(self, owner_id: str, attachment_id: str, expires_s: int) -> str:
        """A presigned GET URL."""
        ...

    def delete(self, owner_id: str, attachment_id: str) -> None:
        """Delete the uploaded object, every version of it (idempotent)."""
        ...


class VideoCards(Protocol):
    """Re-checks shared videos when a reader fetches them (implemented by the share domain)."""

    def cards(self, viewer_id: str, videos: Sequence[Item]) -> dict[str, Item]:
        """The card to show for each ``video_id`` (e.g. ``{"video_id", "unavailable": true}``)."""
        ...


class ForwardStore(Protocol):
    """Reads and the transaction of a forward (``dal.DynamoForwardStore``)."""

    def load(
        self, caller: str, source_cid: str, source_mid: str, targets: Sequence[str], idem_key: str
    ) -> ForwardSnapshot:
        """Record, source message, caller's source membership, targets decided (≤ 2 batched reads)."""
        ...

    def commit(self, plan: ForwardPlan) -> None:
        """One transaction; raises ``ForwardReplayError``, ``SendRateLimitedError`` or
        ``ConflictError`` (a target changed since it was read)."""
        ...


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

    def hide_reply_previews(self, conversation_id: str, message_id: str) -> int:
        """Replies quoting an unsent message show it as deleted (idempotent)."""
        ...


class AttachmentDeleter(Protocol):
    """Deletes an unsent message's attachment object (``dal.S3Media``)."""

    def delete(self, owner_id: str, attachment_id: str) -> None:
        """Delete every version of the object (idempotent)."""
        ...


class ReactionStore(Protocol):
    """Reaction writes (``dal.DynamoDmStore``)."""

    def add_reaction(
        self, conversation_id: str, message_id: str, emoji: str, user_id: str, now_ms: int
    ) -> None:
        """One transaction: the member is active, the reaction item, the message's aggregate.
        Idempotent; raises ``ConversationNotFoundError``, ``MessageNotFoundError``,
        ``MessageDeletedError`` or ``TooManyReactionsError``."""
        ...

    def remove_reaction(self, conversation_id: str, message_id: str, emoji: str, user_id: str) -> None:
        """Undo ``add_reaction`` (idempotent: no reaction → nothing to do)."""
        ...


class ReportStore(Protocol):
    """Where reports are written (``dal.DynamoReportStore``)."""

    def put_report(self, report: Item) -> None:
        """Write a new report item."""
        ...


class UploadStore(Protocol):
    """Upload records and quotas (``dal.DynamoUploads``)."""

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
        """Charge the day's quota (count and bytes) and record the pending upload, atomically;
        False (nothing written) when the quota would be passed."""
        ...

    def due(self, hour: int) -> list[PendingUpload]:
        """Pending uploads whose 24 hours were up in ``hour`` (epoch hours)."""
        ...

    def forget(self, upload: PendingUpload) -> bool:
        """Drop the record if still pending; False when a message attached it meanwhile."""
        ...
