"""Read models of the live domain maintained from the table's stream."""

from __future__ import annotations

from functions.core.streams import StreamChange


def apply(changes: list[StreamChange]) -> None:
    """Update read models for a batch of changes (idempotent: batches may be replayed)."""
    return None
