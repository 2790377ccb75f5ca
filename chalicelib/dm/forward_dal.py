"""Data access of forwarding (the dm dal's extension: keys, BatchGetItem, one transaction).

Separate from ``dal.py`` so that ``targets``/``forwarding`` can build on ``dal``'s helpers
without an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.core import clients, idempotency, keys, tx
from chalicelib.core.ddb import TransactionCancelled, batch_get, item_key
from chalicelib.core.errors import UnavailableError
from chalicelib.core.settings import get_settings
from chalicelib.dm.dal import _send_window_update, _strip
from chalicelib.dm.errors import ForwardReplayError, SendRateLimitedError
from chalicelib.dm.forwarding import ForwardPlan, ForwardSnapshot, StaleTargetsError
from chalicelib.dm.targets import block_keys, decide_targets, direct_peers, post_actions, target_keys

SCOPE = "dm.forward"


class DynamoForwardStore:
    """``forwarding.ForwardStore`` on the single table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def load(
        self, caller: str, source_cid: str, source_mid: str, targets: Sequence[str], idem_key: str
    ) -> ForwardSnapshot:
        """BatchGetItem 1: record, source message, caller's source member item, then the caller's
        member item and META of each target (≤ 43 keys); BatchGetItem 2 (only with direct
        targets): block edges both ways with each direct peer."""
        record_key = keys.idempotency(caller, SCOPE, idem_key)
        source_key, member_key = keys.message(source_cid, source_mid), keys.member(source_cid, caller)
        found = batch_get(
            self._client, self._table, [record_key, source_key, member_key, *target_keys(caller, targets)]
        )
        record = found.get(item_key(record_key))
        if record is not None:
            return ForwardSnapshot(record=(str(record["fingerprint"]), dict(record["response"])))
        peers = direct_peers(found, caller, targets)
        if peers:
            found.update(batch_get(self._client, self._table, block_keys(caller, peers)))
        return ForwardSnapshot(
            source=_strip(found.get(item_key(source_key))),
            source_member=_strip(found.get(item_key(member_key))),
            targets=decide_targets(found, caller, targets),
        )

    def commit(self, plan: ForwardPlan) -> None:
        """ONE TransactWriteItems: 0 the Idempotency-Key record, 1 the rate window (one forward
        is one send), then 3 actions per target (member, message, META) — ≤ 62 actions."""
        put_record, _ = idempotency.record(
            self._table,
            keys.idempotency(plan.sender_id, SCOPE, plan.idem_key),
            plan.fingerprint,
            expires_s=plan.expires_s,
            response=plan.response,
        )
        actions: list[dict[str, Any]] = [
            put_record,
            _send_window_update(
                self._table, plan.sender_id, plan.window, plan.window_expires_s, plan.rate_limit
            ),
        ]
        for message in plan.messages:
            actions += post_actions(self._table, plan.sender_id, message)
        try:
            tx.transact(self._client, actions)
        except TransactionCancelled as err:
            old = idempotency.existing_record(err, 0)
            if old is not None:
                raise ForwardReplayError(str(old["fingerprint"]), dict(old["response"])) from err
            if err.failed(1):
                raise SendRateLimitedError(
                    "You are sending messages too fast.", retry_after=plan.retry_after_s
                ) from err
            if any(err.failed(i) for i in range(2, len(actions))):
                raise StaleTargetsError() from err
            raise UnavailableError("The message could not be forwarded; retry.") from err


def forward_store() -> DynamoForwardStore:
    """The forwarding repository."""
    return DynamoForwardStore(clients.dynamodb(), get_settings().table_name)
