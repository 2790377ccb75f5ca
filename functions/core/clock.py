"""Time helpers: one ISO-8601 format (UTC, milliseconds) everywhere."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """Current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def iso_from_ms(epoch_ms: int) -> str:
    """Format epoch milliseconds as ``2026-11-28T01:02:03.456Z``."""
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def now_iso() -> str:
    """Current time as ISO-8601 UTC with milliseconds."""
    return iso_from_ms(now_ms())


def ms_from_iso(value: str) -> int:
    """Parse an ISO-8601 timestamp (``Z`` or offset) into epoch milliseconds."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
