"""Share suggestions: people the caller most recently messaged or shared with, then the rest of
their friends; blocked users (either way) never appear. Plain logic over repositories."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.share.ports import BlockReader, SuggestionSource

BLOCK_CHUNK = 50  # both block keys per candidate: 100 keys, one BatchGetItem per chunk
INTERACTIONS_SCANNED = 100


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def share_suggestions(
    source: SuggestionSource, graph: BlockReader, user_id: str, limit: int
) -> list[dict[str, Any]]:
    """``GET /v1/me/share-suggestions``: up to ``limit`` items ``{"user_id", "last_interaction_at"}``."""
    last_at: dict[str, str | None] = {}
    for other, at in source.recent_interactions(user_id, INTERACTIONS_SCANNED):
        if other != user_id and other not in last_at:
            last_at[other] = at
    for friend in source.friends(user_id):
        if friend != user_id and friend not in last_at:
            last_at[friend] = None
    candidates = list(last_at)
    items: list[dict[str, Any]] = []
    for chunk in _chunks(candidates, BLOCK_CHUNK):
        blocked = graph.blocked_either_way(user_id, list(chunk))
        for other in chunk:
            if other in blocked:
                continue
            items.append({"user_id": other, "last_interaction_at": last_at[other]})
            if len(items) == limit:
                return items
    return items
