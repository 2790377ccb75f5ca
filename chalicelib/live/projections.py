"""Read models of the live domain maintained from the table's stream: the rolling chat
snapshot of each room, written to S3 at most once per second per room."""

from __future__ import annotations

from chalicelib.core.clock import now_ms
from chalicelib.core.streams import StreamChange
from chalicelib.live import dal
from chalicelib.live.snapshots import refresh_rooms, rooms_to_refresh


def apply(changes: list[StreamChange]) -> None:
    """Update read models for a batch of changes (idempotent: batches may be replayed)."""
    rooms = rooms_to_refresh(changes)
    if not rooms:
        return
    refresh_rooms(
        rooms,
        streams=dal.streams(),
        chat=dal.chat(),
        snapshots=dal.snapshots(),
        markers=dal.markers(),
        now_ms=now_ms(),
    )
