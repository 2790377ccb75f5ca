"""Outbox mapping of the account domain: an export turning ready → ``account.export_ready``."""

from __future__ import annotations

from chalicelib.core.clock import iso_from_ms
from chalicelib.core.domain_events import DomainEvent, event_from_change
from chalicelib.core.streams import StreamChange


def events_from_change(change: StreamChange) -> list[DomainEvent]:
    """An ``account_export`` item whose status became ``ready`` → one event to its owner."""
    if change.entity() != "account_export" or change.new is None:
        return []
    if change.new.get("status") != "ready" or (change.old or {}).get("status") == "ready":
        return []
    user_id = str(change.new["user_id"])
    return [
        event_from_change(
            change,
            "account.export_ready",
            occurred_at=iso_from_ms(int(change.new.get("ready_at_ms") or change.approximate_ms)),
            recipients=[user_id],
            data={"export_id": change.new["export_id"]},
        )
    ]
