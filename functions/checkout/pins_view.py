"""Pins as the live stream page shows them (used by ``GET /v1/streams/{id}``)."""

from __future__ import annotations

from typing import Any


def pinned_for_stream(stream_id: str) -> list[dict[str, Any]]:
    """Active pins of a stream, each with ``remaining`` and ``ends_at`` (one Query)."""
    return []
