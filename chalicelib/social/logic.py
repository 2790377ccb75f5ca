"""Social graph rules: follows, friends (mutual follows), blocks, settings and lists.

Plain Python over a :class:`GraphStore`. Writes are optimistic: read the pair's edges, ask the
store for one conditional transaction that assumes them, and when the store reports that the
edges changed in between (:class:`StateChangedError`), read again and retry a few times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.core.cursor import decode_cursor, encode_cursor
from chalicelib.core.errors import ConflictError, ForbiddenError, ValidationError
from chalicelib.social.access import DEFAULT_DM_POLICY
from chalicelib.social.ports import GraphStore

MAX_ATTEMPTS = 5
ListKind = Literal["following", "followers", "friends", "blocks"]


class StateChangedError(ConflictError):
    """The relationship changed while it was being updated; retry."""

    code = "conflict"


class BlockedError(ForbiddenError):
    """A block (either way) forbids this."""

    code = "forbidden"


@dataclass(frozen=True)
class Profile:
    """A user's settings and exact counters (defaults when the user never wrote anything)."""

    user_id: str
    dm_policy: str = DEFAULT_DM_POLICY
    push_previews: bool = True
    show_activity_status: bool = True
    followers_count: int = 0
    following_count: int = 0
    friends_count: int = 0


@dataclass(frozen=True)
class Settings:
    """A user's own choices (defaults when the user never set them)."""

    dm_policy: str = DEFAULT_DM_POLICY
    push_previews: bool = True
    show_activity_status: bool = True


@dataclass(frozen=True)
class Edges:
    """The edges between ``a`` and ``b`` a write depends on (read consistently, in one call)."""

    a_follows_b: bool = False
    b_follows_a: bool = False
    a_blocked_b: bool = False
    b_blocked_a: bool = False


@dataclass(frozen=True)
class Listed:
    """One entry of a time-ordered list: the other user and when the edge was made."""

    user_id: str
    since: str


@dataclass(frozen=True)
class ListPage:
    """A page of a list; ``next_position`` is opaque to logic (a store key) or None at the end."""

    items: list[Listed]
    next_position: dict[str, Any] | None


def _not_self(actor: str, target: str, verb: str) -> None:
    if actor == target:
        raise ValidationError(f"You cannot {verb} yourself.")


def follow(store: GraphStore, actor: str, target: str, now_ms: int) -> bool:
    """``actor`` follows ``target``; idempotent. True when a new edge was created.

    Following yourself → 400; a block either way → 403 (without saying who blocked whom).
    """
    _not_self(actor, target, "follow")
    for attempt in range(MAX_ATTEMPTS):
        edges = store.edges(actor, target)
        if edges.a_blocked_b or edges.b_blocked_a:
            raise BlockedError("You cannot follow this user.")
        if edges.a_follows_b:
            return False
        try:
            return store.write_follow(actor, target, reverse=edges.b_follows_a, at_ms=now_ms)
        except StateChangedError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise StateChangedError()  # pragma: no cover - the loop always returns or raises


def unfollow(store: GraphStore, actor: str, target: str) -> bool:
    """``actor`` stops following ``target``; idempotent. True when an edge was removed."""
    _not_self(actor, target, "unfollow")
    for attempt in range(MAX_ATTEMPTS):
        edges = store.edges(actor, target)
        if not edges.a_follows_b:
            return False
        try:
            return store.write_unfollow(actor, target, reverse=edges.b_follows_a)
        except StateChangedError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise StateChangedError()  # pragma: no cover


def block(store: GraphStore, actor: str, target: str, now_ms: int) -> bool:
    """``actor`` blocks ``target``, removing follows both ways; idempotent."""
    _not_self(actor, target, "block")
    for attempt in range(MAX_ATTEMPTS):
        edges = store.edges(actor, target)
        if edges.a_blocked_b:
            return False
        try:
            return store.write_block(
                actor, target, a_follows=edges.a_follows_b, b_follows=edges.b_follows_a, at_ms=now_ms
            )
        except StateChangedError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise StateChangedError()  # pragma: no cover


def unblock(store: GraphStore, actor: str, target: str) -> None:
    """``actor`` lifts their block on ``target`` (follows are not restored); idempotent."""
    _not_self(actor, target, "unblock")
    store.delete_block(actor, target)


def me(store: GraphStore, user_id: str) -> Profile:
    """The caller's profile with exact counters."""
    return store.profile(user_id)


def update_settings(
    store: GraphStore,
    user_id: str,
    dm_policy: str | None,
    push_previews: bool | None,
    show_activity_status: bool | None = None,
) -> Settings:
    """Change the caller's DM policy, push previews and/or activity status visibility."""
    if dm_policy is None and push_previews is None and show_activity_status is None:
        raise ValidationError("Give at least one of dm_policy, push_previews, show_activity_status.")
    if show_activity_status is None:
        return store.update_settings(user_id, dm_policy, push_previews)
    return store.update_settings(user_id, dm_policy, push_previews, show_activity_status)


@dataclass(frozen=True)
class RelationshipView:
    """The caller's view of another user; ``blocked`` never reveals a block against the caller."""

    following: bool
    followed_by: bool
    friends: bool
    blocked: bool


def relationship(store: GraphStore, caller: str, other: str) -> RelationshipView:
    """How ``caller`` and ``other`` are connected (one batched read)."""
    if caller == other:
        return RelationshipView(following=False, followed_by=False, friends=False, blocked=False)
    state = store.pair_states(caller, [other])[other]
    return RelationshipView(
        following=state.sender_follows,
        followed_by=state.recipient_follows,
        friends=state.friends,
        blocked=state.sender_blocked_recipient,
    )


def list_page(
    store: GraphStore,
    cursor_secret: str,
    caller: str,
    kind: ListKind,
    limit: int,
    cursor: str | None,
) -> tuple[list[Listed], str | None]:
    """A page of the caller's list with an HMAC cursor bound to (caller, list)."""
    listing = f"social:{kind}"
    position = decode_cursor(cursor_secret, caller, listing, cursor) if cursor else None
    page = store.list_edges(caller, kind, limit, position)
    next_cursor = (
        encode_cursor(cursor_secret, caller, listing, page.next_position) if page.next_position else None
    )
    return page.items, next_cursor
