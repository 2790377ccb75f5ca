"""A hand-moved clock for tests that patch a domain's ``now_ms``."""

from __future__ import annotations


class Clock:
    """Epoch milliseconds that only move when a test says so."""

    def __init__(self, start_ms: int) -> None:
        self.ms = start_ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        """Move time forward."""
        self.ms += ms
