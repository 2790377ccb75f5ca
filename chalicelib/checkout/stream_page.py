"""Pins as the live stream page shows them (used by ``GET /v1/streams/{id}``)."""

from __future__ import annotations

from typing import Any

from chalicelib.checkout.catalog import active_pins
from chalicelib.checkout.dal import repository
from chalicelib.core.clock import now_ms


def pinned_for_stream(stream_id: str) -> list[dict[str, Any]]:
    """Active pins of a stream, each with ``remaining`` (summed over its stock shards) and
    ``ends_at`` (one Query + one BatchGetItem)."""
    return active_pins(repository().list_pins(stream_id), now_ms())


def stream_page(stream_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The stream's META item (None if there is no such stream) and its active pins with
    ``remaining`` summed over their stock shards: ONE Query (META and the PIN# items share the
    stream partition) + ONE eventually consistent BatchGetItem of the shards."""
    meta, pins = repository().stream_page(stream_id)
    return meta, active_pins(pins, now_ms())
