"""What the share logic needs from storage and services, as Protocols (the dal and
clients implement them; unit tests use in-memory fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chalicelib.share.logic import (
        SharePlan,
        ShareRecord,
        ShareSnapshot,
    )
    from chalicelib.share.models import VideoEvent
    from chalicelib.share.videos import Video


class VideoBatchReader(Protocol):
    """Reads many videos at once."""

    def get_many(self, video_ids: Sequence[str]) -> dict[str, Video]:
        """Found videos by id (one batched read)."""
        ...


class ShareStore(Protocol):
    """Batched reads and transactional writes of a share."""

    def load(
        self,
        sharer: str,
        video_id: str,
        recipients: Sequence[str],
        idem_key: str,
        conversation_ids: Sequence[str] = (),
    ) -> ShareSnapshot:
        """Read the video, the record, pair states, author friendships and direct pointers, and
        decide the conversation targets (``chalicelib.dm.targets``)."""
        ...

    def commit(self, plan: SharePlan) -> None:
        """Write the plan atomically (per transaction); raise ShareRecordExistsError,
        VideoNotFoundError (video gone), ShareRateLimitedError (the sharer's message window is
        full) or StaleReadError."""
        ...

    def resume(self, sharer: str, video_id: str, idem_key: str, record: ShareRecord) -> None:
        """Finish a share whose second transaction did not commit (idempotent)."""
        ...


class InteractionStore(Protocol):
    """Where interactions live."""

    def direct_partners(self, conversation_ids: Sequence[str]) -> dict[str, list[str]]:
        """Members of each direct conversation among ``conversation_ids`` (groups are omitted)."""
        ...

    def touch(self, user_id: str, other: str, at_iso: str) -> None:
        """Record that ``user_id`` interacted with ``other`` at ``at_iso`` (monotonic)."""
        ...


class SuggestionSource(Protocol):
    """Reads the caller's interactions and friends."""

    def recent_interactions(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        """``(other, last_interaction_at)`` pairs, newest first."""
        ...

    def friends(self, user_id: str) -> list[str]:
        """The caller's friends (mutual follows), in a stable order."""
        ...


class BlockReader(Protocol):
    """Reads blocks between one user and many others (batched)."""

    def blocked_either_way(self, user_id: str, others: Sequence[str]) -> set[str]:
        """Those of ``others`` that ``user_id`` blocked or that blocked ``user_id``."""
        ...


class VideoRepository(Protocol):
    """Reads and conditionally writes the video projection."""

    def get(self, video_id: str) -> Video | None:
        """The projection (tombstones included), or None."""
        ...

    def apply(self, event: VideoEvent, now_ms: int) -> bool:
        """Write the event (stamped ``updated_at`` = ``now_ms``) if it is newer than what is stored
        and the video is not deleted.

        Returns False when the stored state is newer (or a tombstone): the event is stale.
        """
        ...


class UrlSigner(Protocol):
    """Presigns media URLs."""

    def thumbnail_url(self, key: str) -> str:
        """A short-lived GET URL for a thumbnail object."""
        ...
