"""Domain events published from the table's stream (the outbox) to the events topic."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, Field


class DomainEvent(BaseModel):
    """One event on the ``-events`` SNS topic.

    ``event_id`` is derived from the stream change, so a replayed record yields the same id and
    consumers can deduplicate.
    """

    event_id: str
    type: str
    occurred_at: str
    actor_id: str | None = None
    recipient_ids: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)


def stable_event_id(event_type: str, *parts: str) -> str:
    """A deterministic id for an event derived from a change (e.g. type + item key + sequence)."""
    digest = hashlib.sha256("|".join((event_type, *parts)).encode()).hexdigest()
    return f"evt_{digest[:32]}"
