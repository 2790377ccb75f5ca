"""The spec cannot drift from the code: routes, auth, statuses, request models, the file."""

from __future__ import annotations

from typing import Any

import pytest
from chalice import Blueprint, Chalice

from local import openapi
from local.openapi import Op, Resp, SpecDriftError

PUBLIC = {("GET", "/v1/health"), ("POST", "/v1/payments/webhook")}
DOCS = {("GET", "/v1/openapi.json"), ("GET", "/v1/docs"), ("GET", "/v1/docs/assets/{name}")}


@pytest.fixture(scope="module")
def chalice_app() -> Chalice:
    """The real app (its blueprints are all registered by ``app.py``)."""
    from app import app

    return app


@pytest.fixture(scope="module")
def spec(chalice_app: Chalice) -> dict[str, Any]:
    """The document generated from the code."""
    return openapi.build_spec(chalice_app)


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m.upper(), p): op for p, item in spec["paths"].items() for m, op in item.items()}


def test_every_route_is_in_the_table_and_the_reverse(chalice_app: Chalice) -> None:
    # Given the routes the app serves and the operation table
    routes = openapi.app_routes(chalice_app)
    table = openapi.operations()

    # When they are compared
    problems = openapi.drift(routes, table)

    # Then nothing is missing on either side, and auth / default statuses agree
    assert problems == []
    assert set(routes) == set(table)


def test_the_spec_describes_exactly_the_app_routes(chalice_app: Chalice, spec: dict[str, Any]) -> None:
    # Given the generated document
    # When its operations are listed
    described = set(_operations(spec))

    # Then they are the app's routes, one for one
    assert described == set(openapi.app_routes(chalice_app))


def test_committed_openapi_yaml_matches_the_code(spec: dict[str, Any]) -> None:
    # Given the committed openapi.yaml
    committed = openapi.SPEC_PATH.read_text(encoding="utf-8")

    # When the document is generated again
    generated = openapi.to_yaml(spec)

    # Then the file is exactly that (run `python -m local.openapi` after changing routes/models)
    assert committed == generated, "openapi.yaml is stale: run `.venv/bin/python -m local.openapi`"


def test_check_mode_exits_non_zero_on_drift(tmp_path: Any) -> None:
    # Given a stale copy of the spec and an up-to-date one
    stale = tmp_path / "stale.yaml"
    stale.write_text("openapi: 3.1.0\n", encoding="utf-8")
    fresh = tmp_path / "fresh.yaml"
    assert openapi.main(["--output", str(fresh)], out=lambda _: None) == 0

    # When --check runs on each
    stale_rc = openapi.main(["--check", "--output", str(stale)], out=lambda _: None)
    fresh_rc = openapi.main(["--check", "--output", str(fresh)], out=lambda _: None)

    # Then only the stale one fails
    assert (stale_rc, fresh_rc) == (1, 0)


def test_request_model_components_equal_the_models_json_schema(spec: dict[str, Any]) -> None:
    # Given every request model the table uses
    models = openapi.request_models()
    assert len(models) >= 15

    for name, model in models.items():
        # When the model's own JSON schema is produced
        expected = model.model_json_schema(ref_template="#/components/schemas/{model}")
        expected.pop("$defs", None)

        # Then the spec's component is identical (same limits, enums, additionalProperties: false)
        assert spec["components"]["schemas"][name] == expected, name
        assert spec["components"]["schemas"][name]["additionalProperties"] is False, name


def test_response_model_components_equal_the_models_json_schema(spec: dict[str, Any]) -> None:
    # Given every response model the domains declare
    for name, model in openapi.response_models().items():
        # When its serialisation schema is produced
        expected = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        expected.pop("$defs", None)

        # Then the spec's component is identical
        assert spec["components"]["schemas"][name] == expected, name


def test_operations_with_a_body_reference_their_model(spec: dict[str, Any]) -> None:
    # Given the table's operations that take a pydantic body
    operations = _operations(spec)
    for key, op in openapi.operations().items():
        if op.body is None:
            continue
        # When the spec's request body is read
        schema = operations[key]["requestBody"]["content"]["application/json"]["schema"]
        refs = [schema.get("$ref")] + [part.get("$ref") for part in schema.get("allOf", [])]

        # Then it is the model's component (possibly with extra rules the validators enforce)
        assert f"#/components/schemas/{op.body.__name__}" in refs, key


def test_bearer_auth_everywhere_except_health_webhook_and_docs(spec: dict[str, Any]) -> None:
    # Given the document's global security and each operation
    assert spec["security"] == [{"bearerAuth": []}]
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")

    for key, op in _operations(spec).items():
        # When an operation's security is read
        public = op.get("security") == []

        # Then only health, the webhook and the docs are public; protected ones document 401
        assert public == (key in PUBLIC | DOCS), key
        assert ("401" in op["responses"]) == (not public), key


def test_idempotency_key_header_on_shares_orders_and_groups(spec: dict[str, Any]) -> None:
    # Given the two creating POSTs that take an Idempotency-Key
    operations = _operations(spec)
    for key in [
        ("POST", "/v1/videos/{video_id}/shares"),
        ("POST", "/v1/streams/{stream_id}/orders"),
        ("POST", "/v1/messages/forward"),
    ]:
        # When the header parameter is read
        (header,) = [p for p in operations[key]["parameters"] if p["name"] == "Idempotency-Key"]

        # Then it is required, at most 255 characters, and 422 is documented for reuse
        assert (header["in"], header["required"], header["schema"]["maxLength"]) == ("header", True, 255)
        assert "422" in operations[key]["responses"]
    # And group creation takes it optionally (a direct conversation is idempotent by its pair)
    (group,) = [
        p for p in operations[("POST", "/v1/conversations")]["parameters"] if p["name"] == "Idempotency-Key"
    ]
    assert group["required"] is False and "422" in operations[("POST", "/v1/conversations")]["responses"]
    others = [
        k
        for k, op in operations.items()
        if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
    ]
    assert len(others) == 4


def test_error_body_schema_and_codes(spec: dict[str, Any]) -> None:
    # Given the error component and the shared error responses
    error = spec["components"]["schemas"]["Error"]
    responses = spec["components"]["responses"]

    # Then code and message are required strings, and each status names its codes
    assert error["required"] == ["code", "message"]
    assert error["properties"]["code"]["type"] == error["properties"]["message"]["type"] == "string"
    for code in ["validation_error", "invalid_cursor", "unauthorized", "forbidden", "not_found", "conflict",
                 "payload_too_large", "idempotency_key_reused", "rate_limited"]:  # fmt: skip
        assert any(code in r["description"] for r in responses.values()), code
    assert "Retry-After" in responses["RateLimited"]["headers"]


def test_lists_document_limit_and_cursor(spec: dict[str, Any]) -> None:
    # Given a paginated listing
    op = _operations(spec)[("GET", "/v1/me/friends")]
    params = {p["name"]: p for p in op["parameters"]}

    # Then limit is 1..100 (default 20) and cursor is an opaque string
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    assert params["cursor"]["schema"]["type"] == "string"


def _toy_app(extra_route: bool) -> Chalice:
    from functions.core.web import Api, ApiRequest

    app = Chalice(app_name="toy")
    bp = Blueprint("toy")
    api = Api(bp)

    @api.route("/v1/health", methods=["GET"], auth=False)
    def toy_health(request: ApiRequest) -> dict[str, str]:
        """Health."""
        return {"status": "ok"}

    if extra_route:

        @api.route("/v1/secret", methods=["GET"])
        def toy_secret(request: ApiRequest) -> dict[str, str]:
            """Not in the table."""
            return {}

    app.register_blueprint(bp)
    return app


def test_a_route_missing_from_the_table_fails_the_build() -> None:
    # Given an app with a route the table does not know
    table = {("GET", "/v1/health"): Op("Health", "health", {200: Resp("ok", {"type": "object"})}, auth=False)}

    # When the spec is built
    # Then it fails, naming the route
    with pytest.raises(SpecDriftError, match="GET /v1/secret is served by the app but missing"):
        openapi.build_spec(_toy_app(extra_route=True), table)


def test_a_table_entry_without_a_route_fails_the_build() -> None:
    # Given a table entry for a route the app does not serve
    table = {
        ("GET", "/v1/health"): Op("Health", "health", {200: Resp("ok", {"type": "object"})}, auth=False),
        ("GET", "/v1/gone"): Op("Gone", "health", {200: Resp("ok", {"type": "object"})}),
    }

    # When the spec is built
    # Then it fails, naming the entry
    with pytest.raises(SpecDriftError, match="spec table has GET /v1/gone but the app serves no such route"):
        openapi.build_spec(_toy_app(extra_route=False), table)


def test_auth_mismatch_fails_the_build() -> None:
    # Given a table that claims the public health route needs a token
    table = {("GET", "/v1/health"): Op("Health", "health", {200: Resp("ok", {"type": "object"})}, auth=True)}

    # When the spec is built
    # Then it fails on the auth disagreement
    with pytest.raises(SpecDriftError, match="auth=False, the spec says auth=True"):
        openapi.build_spec(_toy_app(extra_route=False), table)
