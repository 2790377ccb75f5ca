"""``GET /v1/health``: liveness without auth (no AWS call: it must stay cheap)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.web import Api, ApiRequest

bp = Blueprint(__name__)
api = Api(bp)


@api.route(
    "/v1/health",
    methods=["GET"],
    auth=False,
    response="chalicelib.health.models:Health",
    replies={200: "The service is up."},
    aws=False,
)
def health(request: ApiRequest) -> dict[str, Any]:
    """Liveness probe"""
    return {"status": "ok"}
