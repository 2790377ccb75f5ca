"""HTTP routes of the realtime domain: WebSocket discovery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.core.errors import UnavailableError
from chalicelib.core.settings import get_settings
from chalicelib.core.web import Api, ApiRequest

if TYPE_CHECKING:
    from chalicelib.realtime.models import RealtimeEndpoint

bp = Blueprint(__name__)
api = Api(bp)


@api.route(
    "/v1/realtime",
    methods=["GET"],
    auth=True,
    response="chalicelib.realtime.models:RealtimeEndpoint",
    replies={200: "The WebSocket URL."},
)
def realtime_discover(request: ApiRequest) -> RealtimeEndpoint:
    """Where to open the WebSocket (append `?token=<jwt>`)"""
    from chalicelib.realtime.models import RealtimeEndpoint

    url = get_settings().websocket_url
    if not url:
        raise UnavailableError("Real-time delivery is not configured on this stage.")
    return RealtimeEndpoint(url=url)
