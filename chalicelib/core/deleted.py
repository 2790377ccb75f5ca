"""The per-request "is this account deleted?" gate (issue 20), one small hook after auth.

A deleted account's tokens get 401 ``account_deleted`` on every route and on WebSocket
``$connect``. The check reads the deletion marker (``ACCOUNT#u / DELETION``) with one
eventually consistent GetItem, cached per container: "deleted" forever (the marker is never
removed), "not deleted" for :data:`ACTIVE_TTL_SECONDS`. A warm container therefore adds no AWS
call to a route; the container that accepted the ``DELETE`` knows at once
(:func:`remember_deleted`), others within the TTL — so after its first pass the erasure sweeps
once more when the TTL has passed (``chalicelib.account.logic.SWEEP_DELAY_MS``): nothing written
in the window survives it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from chalicelib.core.errors import UnauthorizedError

if TYPE_CHECKING:
    from chalicelib.core.auth import Identity


class IdentityVerifier(Protocol):
    """What ``chalicelib.core.auth.TokenVerifier`` offers: a verified token's identity."""

    def identity(self, token: str) -> Identity:
        """The caller and the token's ``exp``; raises ``UnauthorizedError`` otherwise."""
        ...


ACTIVE_TTL_SECONDS = 30.0
_MAX_ENTRIES = 10_000

# user id → monotonic time until which "not deleted" holds; deleted ids live in ``_deleted``.
_active_until: dict[str, float] = {}
_deleted: set[str] = set()


class AccountDeletedError(UnauthorizedError):
    """This account was deleted."""

    code = "account_deleted"


def remember_deleted(user_id: str) -> None:
    """This container just recorded (or saw) the deletion of ``user_id``."""
    _deleted.add(user_id)
    _active_until.pop(user_id, None)


def prime(user_ids: list[str]) -> None:
    """Mark ``user_ids`` as seen active just now (a warm container; benchmarks measure that)."""
    until = time.monotonic() + ACTIVE_TTL_SECONDS
    for user_id in user_ids:
        if user_id not in _deleted:
            _active_until[user_id] = until


def reset() -> None:
    """Forget the cache (tests switch tables between cases)."""
    _active_until.clear()
    _deleted.clear()


def _marker_exists(user_id: str, *, consistent: bool = False) -> bool:
    from chalicelib.core import clients, keys
    from chalicelib.core.ddb import get_item
    from chalicelib.core.settings import get_settings

    item = get_item(
        clients.dynamodb(),
        get_settings().table_name,
        keys.account_deletion(user_id),
        consistent=consistent,
        projection="pk",
    )
    return item is not None


def ensure_active(user_id: str, *, fresh: bool = False) -> None:
    """Raise :class:`AccountDeletedError` when ``user_id``'s account is deleted. ``fresh`` skips
    the "not deleted" cache (one strongly consistent GetItem), for rare entry points such as
    WebSocket ``$connect``."""
    if user_id in _deleted:
        raise AccountDeletedError("This account was deleted.")
    now = time.monotonic()
    if not fresh and _active_until.get(user_id, 0.0) > now:
        return
    if _marker_exists(user_id, consistent=fresh):
        remember_deleted(user_id)
        raise AccountDeletedError("This account was deleted.")
    if len(_active_until) >= _MAX_ENTRIES:
        _active_until.clear()
    _active_until[user_id] = now + ACTIVE_TTL_SECONDS


class ActiveUserVerifier:
    """A token verifier that also refuses deleted accounts (WebSocket ``$connect``: always a
    fresh, consistent read of the marker — connects are rare and a socket outlives the cache)."""

    def __init__(self, inner: IdentityVerifier) -> None:
        self._inner = inner

    def verify(self, token: str) -> str:
        """``sub`` of a valid token of an account that is not deleted."""
        return self.identity(token).user_id

    def identity(self, token: str) -> Identity:
        """The caller and the token's expiry, for an account that is not deleted."""
        identity = self._inner.identity(token)
        ensure_active(identity.user_id, fresh=True)
        return identity
