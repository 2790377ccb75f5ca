"""Services notify takes from other domains, plugged in by the composition root (``app.py``):
every domain's outbox mapper, so the outbox publisher imports none of them (account erases
notify's devices, so notify importing account would be a cycle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.notify.publisher import Mapper

_mappers: Callable[[], tuple[Mapper, ...]] | None = None


def provide_mappers(factory: Callable[[], tuple[Mapper, ...]]) -> None:
    """Plug in the factory of the domains' outbox mappers (imports them on first use)."""
    global _mappers
    _mappers = factory


def mappers() -> tuple[Mapper, ...]:
    """The mappers the edge plugged in (a missing wiring is a bug: fail loudly)."""
    if _mappers is None:
        raise RuntimeError("notify's outbox mappers are not wired (see app.py)")
    return _mappers()
