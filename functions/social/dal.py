"""Data access of the social graph: the only social module that knows keys and boto3."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functions.core import clients, keys
from functions.core.ddb import call, deserialize, serialize
from functions.core.settings import get_settings
from functions.social.access import DEFAULT_DM_POLICY, PairState

BATCH_GET_MAX_KEYS = 100
KEYS_PER_PAIR = 5


class DynamoGraph:
    """Social graph backed by the single table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def batch_get(self, item_keys: Sequence[keys.Key]) -> dict[tuple[str, str], dict[str, Any]]:
        """BatchGetItem (consistent reads) of up to 100 keys per call, retrying unprocessed keys."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        unique = list({(k[keys.PK], k[keys.SK]): k for k in item_keys}.values())
        for start in range(0, len(unique), BATCH_GET_MAX_KEYS):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [serialize(k) for k in unique[start : start + BATCH_GET_MAX_KEYS]],
                    "ConsistentRead": True,
                }
            }
            while request:
                out = call(self._client.batch_get_item, RequestItems=request)
                for raw in out.get("Responses", {}).get(self._table, []):
                    item = deserialize(raw) or {}
                    found[(item[keys.PK], item[keys.SK])] = item
                request = out.get("UnprocessedKeys") or {}
        return found

    def pair_states(self, sender: str, recipients: Sequence[str]) -> dict[str, PairState]:
        """Pair state for each recipient: 5 keys per recipient, one BatchGetItem per 20 recipients."""
        wanted: list[keys.Key] = []
        for r in recipients:
            wanted += [
                keys.profile(r),
                keys.following(sender, r),
                keys.following(r, sender),
                keys.block(sender, r),
                keys.block(r, sender),
            ]
        found = self.batch_get(wanted)

        def has(k: keys.Key) -> bool:
            return (k[keys.PK], k[keys.SK]) in found

        states = {}
        for r in recipients:
            profile = found.get((keys.profile(r)[keys.PK], keys.profile(r)[keys.SK]), {})
            states[r] = PairState(
                sender_follows=has(keys.following(sender, r)),
                recipient_follows=has(keys.following(r, sender)),
                sender_blocked_recipient=has(keys.block(sender, r)),
                recipient_blocked_sender=has(keys.block(r, sender)),
                recipient_policy=str(profile.get("dm_policy", DEFAULT_DM_POLICY)),
            )
        return states


def graph() -> DynamoGraph:
    """The graph repository (cheap: the client underneath is cached per container)."""
    return DynamoGraph(clients.dynamodb(), get_settings().table_name)
