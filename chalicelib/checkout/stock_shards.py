"""Shard math of a pin's stock (pure): how many stock shards, how units split over them,
which shard a buyer draws from, and where an order falls over when that shard lacks units.

One DynamoDB item takes at most 1,000 WCU/s and an order's transactional update of it costs
2 WCU, so one item caps a pin at ~500 orders/s; ``PER_SHARD_ORDERS_PER_S`` keeps each shard at
half that (headroom for ``TransactionConflict`` retries and uneven hashing).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

PER_SHARD_ORDERS_PER_S = 250
MAX_SHARDS = 100
DEFAULT_PEAK_ORDERS_PER_S = 1_000
MAX_PEAK_ORDERS_PER_S = 100_000


def shard_count(units: int, peak_orders_per_s: int = DEFAULT_PEAK_ORDERS_PER_S) -> int:
    """S = ceil(peak ÷ 250), at most 100 and never more than the units (so no shard starts
    empty), at least 1."""
    wanted = math.ceil(max(1, peak_orders_per_s) / PER_SHARD_ORDERS_PER_S)
    return max(1, min(MAX_SHARDS, units, wanted))


def split(units: int, shards: int) -> list[int]:
    """Units spread evenly: every shard gets ``units // S``, the first ``units % S`` one more."""
    if shards < 1 or units < shards:
        raise ValueError("need at least one unit per shard")
    base, extra = divmod(units, shards)
    return [base + (1 if k < extra else 0) for k in range(shards)]


def _hash(value: str) -> int:
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:8], "big")


def home_shard(buyer_id: str, shards: int) -> int:
    """The shard a buyer's orders draw from: a stable hash of the buyer id, so buyers spread
    evenly and one buyer's retries hit the same item."""
    return 0 if shards <= 1 else _hash(buyer_id) % shards


def fallover_shard(
    remaining: Mapping[int, int], quantity: int, buyer_id: str, avoid: int | None
) -> int | None:
    """A shard that can serve ``quantity`` (None if none can), chosen among the eligible ones by
    the buyer's hash, so concurrent fallovers spread instead of all hitting the fullest shard.
    ``avoid`` (the shard that just refused) is taken only when it is the sole candidate."""
    eligible = sorted(k for k, left in remaining.items() if left >= quantity)
    if not eligible:
        return None
    others = [k for k in eligible if k != avoid] or eligible
    return others[_hash(f"fallover:{buyer_id}") % len(others)]
