"""Outbox mapping of the account domain: an export turning ready → ``account.export_ready``."""

from __future__ import annotations

from functions.core.clock import iso_from_ms
from functions.core.domain_events import DomainEvent, stable_event_id
from functions.core.streams import StreamChange


def events_from_change(change: StreamChange) -> list[DomainEvent]:
    """An ``account_export`` item whose status became ``ready`` → one event to its owner."""
    if change.entity() != "account_export" or change.new is None:
        return []
    if change.new.get("status") != "ready" or (change.old or {}).get("status") == "ready":
        return []
    pk, sk = str(change.keys.get("pk", "")), str(change.keys.get("sk", ""))
    user_id = str(change.new["user_id"])
    return [
        DomainEvent(
            event_id=stable_event_id("account.export_ready", pk, sk, change.sequence_number),
            type="account.export_ready",
            occurred_at=iso_from_ms(int(change.new.get("ready_at_ms") or change.approximate_ms)),
            actor_id=None,
            recipient_ids=[user_id],
            data={"export_id": change.new["export_id"]},
        )
    ]
