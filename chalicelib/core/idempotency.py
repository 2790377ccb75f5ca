"""The one idempotency protocol (Idempotency-Key, ``client_message_id``): a record written
INSIDE the caller's own transaction, so idempotency costs no extra round trip.

1. :func:`fingerprint` the request (route identity + canonical body);
2. :func:`record` gives the ``Put`` of the record (``attribute_not_exists(pk)``, ALL_OLD on
   failure) to add to the effect's TransactWriteItems, and the item it writes;
3. when the transaction is cancelled, :func:`existing_record` is the record another request
   stored first (or the caller's earlier read found it), and :func:`replay_or_reject` decides: same
   fingerprint → replay the stored response; another → :class:`IdempotencyKeyReusedError` (422)
   with the one wording, :data:`REUSED_MESSAGE`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.core import keys, tx
from chalicelib.core.errors import IdempotencyKeyReusedError

if TYPE_CHECKING:
    from chalicelib.core.ddb import TransactionCancelled

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
REUSED_MESSAGE = "This idempotency key was already used with a different request."
FINGERPRINT = "fingerprint"

T = TypeVar("T")


def fingerprint(*parts: Any) -> str:
    """A stable hash of the request (route identity + canonical body)."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(
    table: str,
    key: Mapping[str, Any],
    request_fingerprint: str,
    *,
    expires_s: int | None,
    entity: str = "idempotency",
    **fields: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record's ``Put`` action for the caller's transaction (only if the key is free; the
    stored record comes back on a cancellation) and the item: ``key``, ``entity``, the
    fingerprint, ``fields`` (e.g. the response to replay) and ``ttl`` = ``expires_s`` if given."""
    item: dict[str, Any] = {**key, "entity": entity, FINGERPRINT: request_fingerprint, **fields}
    if expires_s is not None:
        item[keys.TTL] = expires_s
    action = tx.put(table, item, condition="attribute_not_exists(pk)", return_old_on_failure=True)
    return action, item


def existing_record(cancelled: TransactionCancelled, index: int) -> dict[str, Any] | None:
    """The record that made the record's ``Put`` (action ``index``) fail, or None when that
    action did not fail (or DynamoDB returned no item)."""
    return cancelled.item(index) if cancelled.failed(index) else None


def ensure_same_request(stored_fingerprint: str, request_fingerprint: str) -> None:
    """Raise :class:`IdempotencyKeyReusedError` (422, the one wording) when the key was used with
    another request."""
    if stored_fingerprint != request_fingerprint:
        raise IdempotencyKeyReusedError(REUSED_MESSAGE)


def replay_or_reject(stored_fingerprint: str, request_fingerprint: str, response: T) -> T:
    """Replay vs 422: the stored ``response`` for the same request, else
    :class:`IdempotencyKeyReusedError`."""
    ensure_same_request(stored_fingerprint, request_fingerprint)
    return response
