"""Pins as the live stream page shows them (used by ``GET /v1/streams/{id}``)."""

from __future__ import annotations

from typing import Any

from functions.checkout.catalog import active_pins
from functions.checkout.dal import repository
from functions.core.clock import now_ms


def pinned_for_stream(stream_id: str) -> list[dict[str, Any]]:
    """Active pins of a stream, each with ``remaining`` and ``ends_at`` (one Query)."""
    return active_pins(repository().list_pins(stream_id), now_ms())
