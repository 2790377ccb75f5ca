"""What the social logic needs from storage and services, as Protocols (the dal and
clients implement them; unit tests use in-memory fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.social.access import PairState
    from chalicelib.social.logic import (
        Edges,
        ListKind,
        ListPage,
        Profile,
        Settings,
    )
    from chalicelib.social.logic_phone import Verification
    from chalicelib.social.presence import Item


class GraphReader(Protocol):
    """Reads pair states; implementations must batch (never one round trip per recipient)."""

    def pair_states(self, sender: str, recipients: Sequence[str]) -> dict[str, PairState]:
        """State of (sender, r) for every recipient r."""
        ...


class BlockReader(Protocol):
    """Reads blocks between one user and many others, batched (``DynamoGraph`` implements it:
    both block keys per user, one BatchGetItem per 50 users)."""

    def blocked_either_way(self, user_id: str, others: Sequence[str]) -> set[str]:
        """Those of ``others`` that ``user_id`` blocked or that blocked ``user_id``."""
        ...


class GraphStore(Protocol):
    """Persistence of the graph. Each write is one atomic, conditional operation."""

    def edges(self, a: str, b: str) -> Edges:
        """Both follow edges and both blocks between ``a`` and ``b``."""
        ...

    def write_follow(self, a: str, b: str, *, reverse: bool, at_ms: int) -> bool:
        """Create ``a → b`` assuming ``b → a`` exists iff ``reverse`` (then also the friend markers).

        Returns False when ``a → b`` already exists; raises :class:`StateChangedError` when
        ``b → a`` changed and :class:`BlockedError` when a block appeared.
        """
        ...

    def write_unfollow(self, a: str, b: str, *, reverse: bool) -> bool:
        """Remove ``a → b`` (and friend markers when ``reverse``); False when it did not exist."""
        ...

    def write_block(self, a: str, b: str, *, a_follows: bool, b_follows: bool, at_ms: int) -> bool:
        """Create block ``a → b`` removing the follows that exist; False when already blocked."""
        ...

    def delete_block(self, a: str, b: str) -> None:
        """Remove block ``a → b`` if present."""
        ...

    def profile(self, user_id: str) -> Profile:
        """The user's profile (defaults when absent)."""
        ...

    def update_settings(
        self,
        user_id: str,
        dm_policy: str | None,
        push_previews: bool | None,
        show_activity_status: bool | None = None,
    ) -> Settings:
        """Set the given settings, leave the others; returns the settings after the write."""
        ...

    def list_edges(
        self, user_id: str, kind: ListKind, limit: int, position: dict[str, Any] | None
    ) -> ListPage:
        """One page of a user's list, newest first."""
        ...

    def pair_states(self, sender: str, recipients: Sequence[str]) -> dict[str, PairState]:
        """Pair state of (sender, r) for each recipient (one batched read)."""
        ...


class PhoneStore(Protocol):
    """Persistence of phone opt-ins, contact quotas and remembered matches."""

    def home_region(self, user_id: str) -> str | None:
        """The region of the user's verified number (stored beside its hash), if any."""
        ...

    def clear_phone(self, user_id: str) -> None:
        """Remove the user's opt-in, if any."""
        ...

    def charge_contacts(self, user_id: str, day: int, count: int, limit: int, expires_at: int) -> bool:
        """Add ``count`` to the user's counter of ``day`` unless it would exceed ``limit``."""
        ...

    def owners(self, hashes: Sequence[str]) -> dict[str, str]:
        """Opted-in user of each known hash."""
        ...

    def blocked_either_way(self, user_id: str, others: Sequence[str]) -> set[str]:
        """Those of ``others`` that ``user_id`` blocked or that blocked ``user_id``."""
        ...

    def remember_matches(self, user_id: str, others: Sequence[str], expires_at: int) -> None:
        """Keep ``others`` as contact matches of the user until ``expires_at`` (epoch seconds)."""
        ...


class SuggestionStore(Protocol):
    """Reads behind suggestions (each method is one or a few batched calls)."""

    def contact_matches(self, user_id: str, now_s: int, limit: int) -> list[str]:
        """Remembered, unexpired contact matches of the user."""
        ...

    def recent_friends(self, user_id: str, limit: int) -> list[str]:
        """The user's most recent friends, newest first."""
        ...

    def friends_of(self, users: Sequence[str], per_user: int) -> dict[str, list[str]]:
        """Up to ``per_user`` most recent friends of each user."""
        ...

    def excluded(self, user_id: str, candidates: Sequence[str]) -> set[str]:
        """Candidates the user already follows or that are blocked either way."""
        ...


class VerificationStore(Protocol):
    """Persistence of verifications, daily code quotas and number holders."""

    def start(
        self, verification: Verification, day: int, user_limit: int, number_limit: int, quota_expires_s: int
    ) -> bool:
        """Write the verification and count one code for the user and for the number today,
        atomically; False (nothing written) when either daily quota is used up."""
        ...

    def get(self, verification_id: str) -> Verification | None:
        """The verification (None when absent)."""
        ...

    def wrong_code(self, verification: Verification, limit: int) -> int:
        """Count one wrong attempt (only while below ``limit``); returns the attempts made."""
        ...

    def claim(self, verification: Verification) -> None:
        """Consume the verification and make its number the user's: previous holder loses it,
        the user's previous number is released. Raises VerificationChangedError on a race."""
        ...


class SmsSender(Protocol):
    """Text messages (SNS ``Publish`` with ``PhoneNumber``)."""

    def send(self, e164: str, text: str) -> None:
        """Send one SMS."""
        ...


class PresenceReader(Protocol):
    """Profiles and blocks in one batched read (``chalicelib.social.dal.DynamoGraph``)."""

    def presence_context(
        self, viewer: str, others: Sequence[str], *, with_blocks: bool
    ) -> tuple[Item, dict[str, Item], set[str]]:
        """(viewer's profile, others' profiles by id, others blocked either way)."""
        ...


class ActivityWriter(Protocol):
    """The conditional stamp write (``chalicelib.social.dal.DynamoGraph.touch_activity``)."""

    def touch_activity(self, user_id: str, now_ms: int, min_gap_ms: int) -> bool:
        """Set ``last_active_at`` unless it is younger than ``min_gap_ms``; False when skipped."""
        ...
