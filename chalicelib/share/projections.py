"""Share suggestions learn from direct messages: "the people the caller most recently messaged".

Shares record their interactions in their own transaction; plain DMs arrive here from the
table's stream (``chalicelib/projections/events.py``). Idempotent: an interaction only moves
forward in time, so replayed batches change nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.core.streams import StreamChange
from chalicelib.share.ports import InteractionStore


def latest_sends(changes: Sequence[StreamChange]) -> dict[tuple[str, str], str]:
    """(sender, conversation) → time of the sender's newest new message in this batch."""
    latest: dict[tuple[str, str], str] = {}
    for change in changes:
        new = change.new
        if change.event_name != "INSERT" or not new or new.get("entity") != "message":
            continue
        pair = (str(new.get("sender_id", "")), str(new.get("conversation_id", "")))
        sent_at = str(new.get("sent_at", ""))
        if all(pair) and sent_at > latest.get(pair, ""):
            latest[pair] = sent_at
    return latest


def record_interactions(store: InteractionStore, changes: Sequence[StreamChange]) -> int:
    """Touch one interaction per (sender, other member) of direct conversations; returns writes."""
    latest = latest_sends(changes)
    if not latest:
        return 0
    partners = store.direct_partners(sorted({cid for _, cid in latest}))
    writes = 0
    for (sender, cid), sent_at in latest.items():
        for other in partners.get(cid, []):
            if other != sender:
                store.touch(sender, other, sent_at)
                writes += 1
    return writes


def apply(changes: list[StreamChange]) -> None:
    """Projection entry point (called by the table's projection consumer)."""
    from chalicelib.share.dal import interactions

    record_interactions(interactions(), changes)
