"""What the account logic needs from storage and the other domains (Protocols, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Item = dict[str, Any]

PENDING, ERASING, DONE, READY = "pending", "erasing", "done", "ready"


@dataclass(frozen=True)
class Deletion:
    """The deletion marker of one account."""

    user_id: str
    deletion_id: str
    status: str
    requested_at_ms: int
    done_steps: frozenset[str] = field(default_factory=frozenset)
    swept: bool = False


@dataclass(frozen=True)
class Export:
    """One data export."""

    user_id: str
    export_id: str
    status: str
    requested_at_ms: int
    archive_key: str | None = None
    ready_at_ms: int | None = None


class AccountStore(Protocol):
    """The account items (``ACCOUNT#u``)."""

    def create_deletion(self, deletion: Deletion) -> Deletion:
        """Put the marker unless one exists; return the stored marker either way."""
        ...

    def deletion(self, user_id: str) -> Deletion | None:
        """The marker (strongly consistent)."""
        ...

    def mark_step(self, user_id: str, step: str) -> None:
        """Record that an erasure step finished (resume skips it)."""
        ...

    def finish_deletion(self, user_id: str, now_ms: int) -> None:
        """The erasure is complete."""
        ...

    def mark_swept(self, user_id: str, now_ms: int) -> None:
        """The final sweep ran (a replay does nothing more)."""
        ...

    def create_export(self, export: Export, not_before_ms: int) -> int | None:
        """Put the export and the quota item unless an export was asked after ``not_before_ms``;
        ``None`` when created, else the time of the previous request."""
        ...

    def export(self, user_id: str, export_id: str) -> Export | None:
        """One export of the user."""
        ...

    def export_ready(self, user_id: str, export_id: str, archive_key: str, now_ms: int) -> None:
        """The archive is written."""
        ...


class Erasure(Protocol):
    """The owning domains' operations an account erasure runs, each idempotent."""

    def graph_edges(self, user_id: str) -> dict[str, list[str]]:
        """``following``, ``followers``, ``blocks`` and ``blocked_by`` of the user."""
        ...

    def unfollow(self, actor: str, target: str) -> None:
        """Social unfollow (counters corrected on both sides)."""
        ...

    def unblock(self, actor: str, target: str) -> None:
        """Social unblock."""
        ...

    def clear_phone(self, user_id: str) -> None:
        """Remove the phone opt-in."""
        ...

    def remove_devices(self, user_id: str) -> None:
        """Delete the SNS endpoints, then the device registrations."""
        ...

    def close_connections(self, user_id: str) -> None:
        """Close and forget the open WebSocket connections."""
        ...

    def conversations_of(self, user_id: str) -> list[str]:
        """Every conversation the user is a member of."""
        ...

    def tombstone_messages(self, conversation_id: str, user_id: str, now_ms: int) -> int:
        """Tombstone the user's messages in a conversation; returns how many."""
        ...

    def leave_conversation(self, conversation_id: str, user_id: str) -> None:
        """Leave a group; in a direct conversation stay as ``{"user_id", "deleted": true}``."""
        ...

    def delete_attachments(self, user_id: str) -> int:
        """Delete every object (every version) under the user's attachment prefix."""
        ...

    def erase_live_chat(self, user_id: str, now_ms: int) -> int:
        """Remove the user's live-chat messages from every room."""
        ...

    def end_hosted_streams(self, user_id: str, now_ms: int) -> None:
        """End the user's live streams and remove their pins (stock back to the products)."""
        ...

    def unlist_products(self, user_id: str, now_ms: int) -> None:
        """Unlist the user's products."""
        ...

    def settle_orders(self, user_id: str, pseudonym: str, now_ms: int) -> None:
        """Cancel pending orders (stock back), pseudonymise kept ones."""
        ...

    def erase_partition(self, user_id: str) -> int:
        """Delete what is left in ``USER#u`` (profile, counters, contact matches...)."""
        ...


class ExportReader(Protocol):
    """Reads a user's data for an export."""

    def collect(self, user_id: str) -> dict[str, Any]:
        """Every JSON document of the archive, by file name."""
        ...

    def attachments(self, user_id: str) -> Sequence[tuple[str, bytes]]:
        """The user's attachments (name, content)."""
        ...


class ArchiveStore(Protocol):
    """Where archives go."""

    def put(self, key: str, body: bytes) -> None:
        """Write an archive (bucket default encryption)."""
        ...

    def url(self, key: str, expires_s: int) -> str:
        """A presigned GET URL."""
        ...
