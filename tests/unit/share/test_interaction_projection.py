"""Plain DMs feed share suggestions: the newest send per pair, direct conversations only."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.core.streams import StreamChange
from chalicelib.share.projections import record_interactions


class FakeInteractions:
    def __init__(self, members: dict[str, list[str]]) -> None:
        self.members = members
        self.touched: dict[tuple[str, str], str] = {}

    def direct_partners(self, conversation_ids: Sequence[str]) -> dict[str, list[str]]:
        return {c: self.members[c] for c in conversation_ids if c in self.members}

    def touch(self, user_id: str, other: str, at_iso: str) -> None:
        if at_iso > self.touched.get((user_id, other), ""):
            self.touched[(user_id, other)] = at_iso


def _message(sender: str, cid: str, sent_at: str, event: str = "INSERT") -> StreamChange:
    item = {"entity": "message", "sender_id": sender, "conversation_id": cid, "sent_at": sent_at}
    return StreamChange("e", event, "1", {}, item, None, 0)


def test_newest_direct_message_per_pair_is_recorded_and_groups_are_ignored() -> None:
    # Given a direct conversation alice↔bob and a group (not in the direct map)
    store = FakeInteractions({"c1": ["alice", "bob"]})
    changes = [
        _message("alice", "c1", "2026-11-28T01:00:00.000Z"),
        _message("alice", "c1", "2026-11-28T01:05:00.000Z"),
        _message("bob", "c1", "2026-11-28T01:02:00.000Z"),
        _message("alice", "group-1", "2026-11-28T01:06:00.000Z"),
        _message("alice", "c1", "2026-11-28T01:09:00.000Z", event="MODIFY"),  # an unsend, not a send
    ]
    # When the batch is projected twice (stream replay)
    record_interactions(store, changes)
    record_interactions(store, changes)
    # Then each sender's newest send is recorded once, for the other member only
    assert store.touched == {
        ("alice", "bob"): "2026-11-28T01:05:00.000Z",
        ("bob", "alice"): "2026-11-28T01:02:00.000Z",
    }
