"""Outbox mapping for the share domain: committed table changes → domain events.

A share is committed when its record (``entity="share"``) reaches ``state="complete"``: on INSERT
for a one-transaction share, on MODIFY (pending → complete) for a two-transaction one. Exactly
one ``video.shared`` event per share; its id is stable across stream replays.
"""

from __future__ import annotations

from chalicelib.core.domain_events import DomainEvent, event_from_change
from chalicelib.core.streams import StreamChange

VIDEO_SHARED = "video.shared"


def events_from_change(change: StreamChange) -> list[DomainEvent]:
    """``video.shared`` for a share that just completed with at least one recipient."""
    new, old = change.new, change.old
    if change.entity() != "share" or new is None or new.get("state") != "complete":
        return []
    if old is not None and old.get("state") == "complete":
        return []
    recipients = [str(r) for r in new.get("recipient_ids") or []]
    if not recipients:
        return []
    return [
        event_from_change(
            change,
            VIDEO_SHARED,
            occurred_at=str(new.get("created_at", "")),
            actor=str(new.get("sharer_id", "")),
            recipients=recipients,
            data={
                "share_id": new.get("share_id"),
                "video_id": new.get("video_id"),
                "title": new.get("title"),
                "author_id": new.get("author_id"),
                "conversation_ids": [str(c) for c in new.get("conversation_ids") or []],
            },
        )
    ]
