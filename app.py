"""Composition root: creates the Chalice app and registers one Blueprint per domain.

Nothing here creates clients or reads data: ``import app`` must stay fast (cold start).
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice

from functions.account import api as account_api
from functions.account import events as account_events
from functions.apidocs import api as apidocs_api
from functions.checkout import api as checkout_api
from functions.checkout import events as checkout_events
from functions.core import middleware
from functions.dm import api as dm_api
from functions.dm import events as dm_events
from functions.dm import wiring as dm_wiring
from functions.health import api as health_api
from functions.live import api as live_api
from functions.live import events as live_events
from functions.live import wiring as live_wiring
from functions.notify import api as notify_api
from functions.notify import events as notify_events
from functions.notify import wiring as notify_wiring
from functions.projections import events as projection_events
from functions.realtime import api as realtime_api
from functions.realtime import events as realtime_events
from functions.share import api as share_api
from functions.share import events as share_events
from functions.social import api as social_api
from functions.social import events as social_events


def _share_video_cards() -> Any:
    """dm's VideoCards port: share re-checks each shared video for the viewer."""
    from functions.share.cards import ShareVideoCards

    return ShareVideoCards()


def _checkout_stream_page(stream_id: str) -> Any:
    """live's stream page: META and checkout's pins in one Query."""
    from functions.checkout.pins_view import stream_page

    return stream_page(stream_id)


def _outbox_mappers() -> tuple[Any, ...]:
    """The outbox publisher's mappers: dm, share, checkout and account changes → events."""
    from functions.account import outbox as account_outbox
    from functions.checkout import outbox as checkout_outbox
    from functions.dm import outbox as dm_outbox
    from functions.share import outbox as share_outbox

    return (
        dm_outbox.events_from_change,
        share_outbox.events_from_change,
        checkout_outbox.events_from_change,
        account_outbox.events_from_change,
    )


# Cross-domain services are plugged in here, so no domain imports another in a cycle.
dm_wiring.provide_video_cards(_share_video_cards)
live_wiring.provide_stream_page(_checkout_stream_page)
notify_wiring.provide_mappers(_outbox_mappers)

app = Chalice(app_name="socialvideo")
app.experimental_feature_flags.update(["WEBSOCKETS"])
# One middleware for HTTP, WebSocket and event handlers: log context, errors, metrics.
middleware.register(app)

for blueprint in (
    health_api.bp,
    apidocs_api.bp,
    social_api.bp,
    social_events.bp,
    dm_api.bp,
    dm_events.bp,
    share_api.bp,
    share_events.bp,
    notify_api.bp,
    notify_events.bp,
    live_api.bp,
    live_events.bp,
    checkout_api.bp,
    checkout_events.bp,
    realtime_api.bp,
    realtime_events.bp,
    projection_events.bp,
    account_api.bp,
    account_events.bp,
):
    app.register_blueprint(blueprint)
