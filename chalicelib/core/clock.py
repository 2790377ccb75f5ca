"""Time: one :class:`Clock`, read at the edge and injected; one ISO-8601 format (UTC, ms).

Only edges (routes, event handlers) read the wall clock, through :func:`now_ms` or a
:class:`Clock`; logic and dals receive ``now_ms`` values or the clock (a dal never reads
the wall clock itself). Tests freeze time by giving a ``Clock`` their own ``now_ms``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
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


def _wall_ms() -> int:
    return now_ms()  # looked up at call time, so a test patching ``clock.now_ms`` moves every Clock


def _new_ulid(_at_ms: int) -> str:
    from chalicelib.core.ids import new_ulid  # ids imports this module

    # Monotonic ULIDs within the container keep a sender's messages in send order.
    return new_ulid()


@dataclass(frozen=True)
class Clock:
    """The time and id source an edge injects into logic (tests pass deterministic ones)."""

    now_ms: Callable[[], int] = field(default=_wall_ms)
    new_id: Callable[[int], str] = field(default=_new_ulid)

    def now_s(self) -> int:
        """Current time in epoch seconds (TTLs, token expiry)."""
        return self.now_ms() // 1000

    def now_iso(self) -> str:
        """Current time as ISO-8601 UTC with milliseconds."""
        return iso_from_ms(self.now_ms())
