"""Services live takes from other domains, plugged in by the composition root (``app.py``), so
live never imports them (no live → checkout arrow: checkout depends on live for its chat
messages). Today: the stream page's pins, and closing a stream's sales when it ends (checkout
owns pins and their stock shards)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# stream_id → (the stream's META item or None, its active pins as the page shows them)
StreamPage = Callable[[str], tuple[dict[str, Any] | None, list[dict[str, Any]]]]

_stream_page: StreamPage | None = None


def provide_stream_page(reader: StreamPage) -> None:
    """Plug in the reader of a stream's page (META + pins in one Query, as checkout stores them)."""
    global _stream_page
    _stream_page = reader


def stream_page(stream_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The stream's META item and its pins, through the reader the edge plugged in."""
    if _stream_page is None:
        raise RuntimeError("live's stream page reader is not wired (see app.py)")
    return _stream_page(stream_id)


# (stream_id, now_ms) → None: close every open sale of an ended stream (idempotent)
CloseSales = Callable[[str, int], None]

_close_sales: CloseSales | None = None


def provide_sales_closer(closer: CloseSales) -> None:
    """Plug in what closes an ended stream's sales (checkout unpins its pins)."""
    global _close_sales
    _close_sales = closer


def close_sales(stream_id: str, now_ms: int, /) -> None:
    """Close the stream's sales through the closer the edge plugged in (live's ``StreamSales``)."""
    if _close_sales is None:
        raise RuntimeError("live's sales closer is not wired (see app.py)")
    _close_sales(stream_id, now_ms)
