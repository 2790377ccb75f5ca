"""DynamoDB item sizes and estimated capacity units (moto does not compute consumed capacity).

The rules are DynamoDB's published ones: an item's size is the UTF-8 length of its attribute
names plus its values; a write costs ceil(size / 1 KB) WCU for the larger of the item before
and after the write (2x inside a transaction); a read costs ceil(size / 4 KB) RCU (half when
eventually consistent, 2x inside a transaction), a Query rounds the sum of the items read.
"""

from __future__ import annotations

import math
from typing import Any

KB = 1024


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's low-level JSON shape (``{"S": "x"}``)."""
    (kind, v), *_ = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        digits = str(v).lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(value_size({"N": n}) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(value_size(x) + 1 for x in v)
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    """Bytes of a low-level item (0 for a missing one)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(v) for name, v in item.items())


def write_units(size_bytes: int) -> int:
    """WCU of one standard write of an item of ``size_bytes`` (at least 1)."""
    return max(1, math.ceil(size_bytes / KB))


def read_units(size_bytes: int, consistent: bool) -> float:
    """RCU of reading ``size_bytes`` (at least one 4 KB unit; half when eventually consistent)."""
    units = max(1, math.ceil(size_bytes / (4 * KB)))
    return float(units) if consistent else units / 2
