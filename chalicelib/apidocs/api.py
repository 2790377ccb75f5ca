"""Routes serving the OpenAPI document and the docs page (local/test stages only).

``GET /v1/openapi.json`` serves the committed ``openapi.yaml`` (rendered by ``python -m
local.openapi`` from the routes' declarations; the deployed code never imports ``local/``, and
other stages answer 404 anyway). ``GET /v1/docs`` is Swagger UI, whose assets come
from the ``openapi-ui-bundles`` package and are served by ``GET /v1/docs/assets/{name}``:
nothing is fetched from a CDN.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

from chalicelib.core.errors import NotFoundError
from chalicelib.core.middleware import maps_errors
from chalicelib.core.routedoc import describe
from chalicelib.core.settings import get_settings
from chalicelib.core.web import Api, ApiRequest

bp = Blueprint(__name__)
api = Api(bp)

DOCS_STAGES = frozenset({"local", "test"})
# The Swagger UI files the page loads, with their content types (nothing else is served).
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "application/javascript; charset=utf-8",
}
# Relative URLs: the page lives at ``/v1/docs``, so they resolve under ``/v1/`` whatever prefix
# (e.g. an API Gateway stage) sits in front.
PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>socialvideo API reference</title>
    <link rel="stylesheet" type="text/css" href="docs/assets/swagger-ui.css">
    <link rel="stylesheet" type="text/css" href="docs/assets/index.css">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="docs/assets/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="docs/assets/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script>
      window.onload = function () {
        window.ui = SwaggerUIBundle({
          url: "openapi.json",
          dom_id: "#swagger-ui",
          deepLinking: true,
          persistAuthorization: true,
          presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
          layout: "StandaloneLayout"
        });
      };
    </script>
  </body>
</html>
"""


class DocsNotAvailableError(NotFoundError):
    """The API reference is served in the local and test stages only."""


def _require_docs_stage() -> None:
    if get_settings().stage not in DOCS_STAGES:
        raise DocsNotAvailableError("Not found.")


SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"


@lru_cache(maxsize=1)
def _spec() -> dict[str, Any]:
    """The committed document (YAML is a dev dependency: the docs stages only)."""
    try:
        import yaml

        return dict(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))
    except (ImportError, OSError) as err:
        raise DocsNotAvailableError("Not found.") from err


@lru_cache(maxsize=8)
def _asset(name: str) -> str:
    from openapi_ui_bundles import swagger_ui

    return (Path(swagger_ui.static_path) / name).read_text(encoding="utf-8")


@api.route(
    "/v1/openapi.json",
    methods=["GET"],
    auth=False,
    response="chalicelib.apidocs.models:OpenApiDocument",
    replies={200: "The OpenAPI 3.1 document."},
    errors=(404,),
    aws=False,
)
def apidocs_openapi(request: ApiRequest) -> dict[str, Any]:
    """This OpenAPI document (local and test stages only)"""
    _require_docs_stage()
    return _spec()


@bp.route("/v1/docs", methods=["GET"])
@describe(
    auth=False,
    aws=False,
    errors=(404,),
    replies={200: "An HTML page."},
    media={"text/html": {"type": "string"}},
)
@maps_errors
def apidocs_page() -> Response:
    """Interactive API reference (Swagger UI; local and test stages only)

    Swagger UI over ``/v1/openapi.json`` (HTML, so not through the JSON route wrapper; errors
    are answered by the one middleware's table).
    """
    _require_docs_stage()
    return Response(body=PAGE, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@bp.route("/v1/docs/assets/{name}", methods=["GET"])
@describe(
    auth=False,
    aws=False,
    errors=(404,),
    replies={200: "The asset (JavaScript or CSS)."},
    media={"text/css": {"type": "string"}, "application/javascript": {"type": "string"}},
)
@maps_errors
def apidocs_asset(name: str) -> Response:
    """A static asset of the API reference page (local and test stages only)

    One of the page's Swagger UI files, from the installed ``openapi-ui-bundles`` package.
    """
    _require_docs_stage()
    content_type = ASSETS.get(name)
    if content_type is None:
        raise NotFoundError("No such asset.")
    try:
        body = _asset(name)
    except (ImportError, OSError) as err:
        raise NotFoundError("The API reference assets are not installed.") from err
    return Response(
        body=body,
        status_code=200,
        headers={"Content-Type": content_type, "Cache-Control": "public, max-age=3600"},
    )
