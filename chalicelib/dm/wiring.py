"""Services dm takes from other domains, plugged in by the composition root (``app.py``), so
dm never imports them (no dm → share arrow, no cycle): today the ``VideoCards`` re-check of
shared videos on the message fetch path (share owns videos and their visibility)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.dm.logic import VideoCards

_video_cards: Callable[[], VideoCards] | None = None


def provide_video_cards(factory: Callable[[], VideoCards]) -> None:
    """Plug in the factory of the ``VideoCards`` port (called once per request)."""
    global _video_cards
    _video_cards = factory


def video_cards() -> VideoCards:
    """The ``VideoCards`` port the edge plugged in (a missing wiring is a bug: fail loudly)."""
    if _video_cards is None:
        raise RuntimeError("dm's VideoCards port is not wired (see app.py)")
    return _video_cards()
