"""Composition root: creates the Chalice app and registers one Blueprint per domain.

Nothing here creates clients or reads data: ``import app`` must stay fast (cold start).
"""

from __future__ import annotations

import importlib
from typing import Any

from chalice import Chalice

from chalicelib.core import middleware, web
from chalicelib.dm import wiring as dm_wiring
from chalicelib.live import wiring as live_wiring
from chalicelib.notify import wiring as notify_wiring


def _share_video_cards() -> Any:
    """dm's VideoCards port: share re-checks each shared video for the viewer."""
    from chalicelib.share.cards import ShareVideoCards

    return ShareVideoCards()


def _checkout_stream_page(stream_id: str) -> Any:
    """live's stream page: META and checkout's pins in one Query."""
    from chalicelib.checkout.stream_page import stream_page

    return stream_page(stream_id)


def _checkout_close_sales(stream_id: str, now_ms: int) -> None:
    """live's sales closer: an ended stream's pins are unpinned (their stock shards refuse orders)."""
    from chalicelib.checkout.catalog import close_stream_sales
    from chalicelib.checkout.repositories import repository

    close_stream_sales(repository(), stream_id, now_ms)


def _outbox_mappers() -> tuple[Any, ...]:
    """The outbox publisher's mappers: dm, share, checkout and account changes → events."""
    from chalicelib.account import outbox as account_outbox
    from chalicelib.checkout import outbox as checkout_outbox
    from chalicelib.dm import outbox as dm_outbox
    from chalicelib.share import outbox as share_outbox

    return (
        dm_outbox.events_from_change,
        share_outbox.events_from_change,
        checkout_outbox.events_from_change,
        account_outbox.events_from_change,
    )


def _note_activity(user_id: str) -> None:
    """Presence ("active now"): an authenticated request stamps its user (in memory; written at
    most once a minute per user and container, conditionally)."""
    from chalicelib.core.clock import now_ms
    from chalicelib.social.presence import note_request

    note_request(user_id, now_ms())


# Cross-domain services are plugged in here, so no domain imports another in a cycle.
dm_wiring.provide_video_cards(_share_video_cards)
live_wiring.provide_stream_page(_checkout_stream_page)
live_wiring.provide_sales_closer(_checkout_close_sales)
notify_wiring.provide_mappers(_outbox_mappers)
web.AFTER_AUTHENTICATION.append(_note_activity)

app = Chalice(app_name="socialvideo")
app.experimental_feature_flags.update(["WEBSOCKETS"])
# One middleware for HTTP, WebSocket and event handlers: log context, errors, metrics.
middleware.register(app)

# The one registry: each domain's routes (``api``) and event handlers (``events``), in this order.
DOMAINS = {
    "health": ("api",),
    "apidocs": ("api",),
    "social": ("api",),
    "dm": ("api", "events"),
    "share": ("api", "events"),
    "notify": ("api", "events"),
    "live": ("api",),
    "checkout": ("api", "events"),
    "realtime": ("api", "events"),
    "projections": ("events",),
    "account": ("api", "events"),
}
for domain, modules in DOMAINS.items():
    for module in modules:
        app.register_blueprint(importlib.import_module(f"chalicelib.{domain}.{module}").bp)
