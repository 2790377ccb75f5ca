"""HTTP routes of the realtime domain: WebSocket discovery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from functions.core.errors import UnavailableError
from functions.core.settings import get_settings
from functions.core.web import Api, ApiRequest

if TYPE_CHECKING:
    from functions.realtime.models import RealtimeEndpoint

bp = Blueprint(__name__)
api = Api(bp)


@api.route(
    "/v1/realtime",
    methods=["GET"],
    auth=True,
    response="functions.realtime.models:RealtimeEndpoint",
    replies={200: "The WebSocket URL."},
)
def realtime_discover(request: ApiRequest) -> RealtimeEndpoint:
    """Where to open the WebSocket (append `?token=<jwt>`)"""
    from functions.realtime.models import RealtimeEndpoint

    url = get_settings().websocket_url
    if not url:
        raise UnavailableError("Real-time delivery is not configured on this stage.")
    return RealtimeEndpoint(url=url)
