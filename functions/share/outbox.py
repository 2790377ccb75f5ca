"""Outbox mapping for the share domain: committed table changes → domain events."""

from __future__ import annotations

from functions.core.domain_events import DomainEvent
from functions.core.streams import StreamChange


def events_from_change(change: StreamChange) -> list[DomainEvent]:
    """Domain events implied by one change (none yet)."""
    return []
