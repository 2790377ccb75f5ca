"""Composition root: creates the Chalice app and registers one Blueprint per domain.

Nothing here creates clients or reads data: ``import app`` must stay fast (cold start).
"""

from __future__ import annotations

from chalice import Chalice

from functions.account import api as account_api
from functions.account import events as account_events
from functions.apidocs import api as apidocs_api
from functions.checkout import api as checkout_api
from functions.checkout import events as checkout_events
from functions.core import middleware
from functions.dm import api as dm_api
from functions.dm import events as dm_events
from functions.health import api as health_api
from functions.live import api as live_api
from functions.live import events as live_events
from functions.notify import api as notify_api
from functions.notify import events as notify_events
from functions.projections import events as projection_events
from functions.realtime import api as realtime_api
from functions.realtime import events as realtime_events
from functions.share import api as share_api
from functions.share import events as share_events
from functions.social import api as social_api
from functions.social import events as social_events

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
