"""``GET /v1/openapi.json``, ``/v1/docs`` and its assets through the Chalice test client."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from local import openapi
from tests.conftest import ApiClient, body_of


@pytest.fixture
def prod_stage(api: ApiClient) -> Iterator[ApiClient]:
    """The same app with ``STAGE=prod``."""
    from chalicelib.core.settings import get_settings

    saved = os.environ.get("STAGE")
    os.environ["STAGE"] = "prod"
    get_settings.cache_clear()
    yield api
    os.environ["STAGE"] = saved or "test"
    get_settings.cache_clear()


def test_openapi_json_is_the_generated_document(api: ApiClient) -> None:
    # Given the test stage
    # When the document is fetched without a token
    response = api.get("/v1/openapi.json")

    # Then it is the same document openapi.yaml holds
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert body_of(response) == json.loads(json.dumps(openapi.load_yaml()))


def test_docs_page_loads_swagger_ui_from_our_own_routes(api: ApiClient) -> None:
    # Given the test stage
    # When the docs page is fetched
    response = api.get("/v1/docs")
    html = response.body.decode() if isinstance(response.body, bytes) else response.body

    # Then it is Swagger UI over openapi.json, with every asset served by us (no CDN)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert 'url: "openapi.json"' in html
    assert "https://" not in html and "http://" not in html
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"]:
        assert f"docs/assets/{asset}" in html


@pytest.mark.parametrize(
    ("name", "content_type", "marker"),
    [
        ("swagger-ui-bundle.js", "application/javascript", "SwaggerUIBundle"),
        ("swagger-ui-standalone-preset.js", "application/javascript", "SwaggerUIStandalonePreset"),
        ("swagger-ui.css", "text/css", ".swagger-ui"),
    ],
)
def test_assets_are_served_from_the_installed_package(
    api: ApiClient, name: str, content_type: str, marker: str
) -> None:
    # Given an asset the page loads
    # When it is fetched
    response = api.get(f"/v1/docs/assets/{name}")
    body: Any = response.body.decode() if isinstance(response.body, bytes) else response.body

    # Then it is the package's file with its content type
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(content_type)
    assert marker in body


@pytest.mark.parametrize("name", ["index.html", "..%2F..%2Fapp.py", "swagger-ui.js", "nope"])
def test_unknown_assets_are_404(api: ApiClient, name: str) -> None:
    # Given a name outside the asset list
    # When it is fetched
    response = api.get(f"/v1/docs/assets/{name}")

    # Then 404 with the error body
    assert response.status_code == 404
    assert body_of(response)["code"] == "not_found"


@pytest.mark.parametrize("path", ["/v1/openapi.json", "/v1/docs", "/v1/docs/assets/swagger-ui-bundle.js"])
def test_docs_are_not_served_outside_local_and_test(prod_stage: ApiClient, path: str) -> None:
    # Given the prod stage
    # When a docs route is fetched
    response = prod_stage.get(path)

    # Then it does not exist there
    assert response.status_code == 404
    assert body_of(response) == {"code": "not_found", "message": "Not found."}
