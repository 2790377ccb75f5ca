"""The spec cannot drift from the code: routes, auth, statuses, request models, the file."""

from __future__ import annotations

from typing import Any

import pytest
from chalice import Blueprint, Chalice

from local import openapi
from local.openapi import SpecDriftError

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


def test_every_route_declares_its_contract(chalice_app: Chalice) -> None:
    # Given the routes the app serves
    routes = openapi.app_routes(chalice_app)

    # When their declarations are checked against the handlers
    problems = openapi.drift(routes)

    # Then every route declares one, and bodies / 204s / default statuses agree
    assert problems == []
    assert all(route.doc is not None for route in routes.values())


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
    # Given every request model the routes declare
    from chalicelib.core.models import RequestModel

    models = openapi.request_models()
    assert len(models) >= 15

    for name, model in models.items():
        # When the model's own JSON schema is produced
        expected = model.model_json_schema(ref_template="#/components/schemas/{model}")
        expected.pop("$defs", None)

        # Then the spec's component is identical (same limits, enums, additionalProperties: false)
        assert spec["components"]["schemas"][name] == expected, name
        if issubclass(model, RequestModel):  # (the webhook's Stripe event is read raw, not validated)
            assert spec["components"]["schemas"][name]["additionalProperties"] is False, name


def test_response_model_components_equal_the_models_json_schema(spec: dict[str, Any]) -> None:
    # Given every response model the routes declare
    models = openapi.response_models()
    assert len(models) >= 30
    for name, model in models.items():
        # When its serialisation schema is produced
        expected = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        expected.pop("$defs", None)

        # Then the spec's component is identical
        assert spec["components"]["schemas"][name] == expected, name


def test_operations_with_a_body_reference_their_model(chalice_app: Chalice, spec: dict[str, Any]) -> None:
    # Given the routes that declare a pydantic body
    operations = _operations(spec)
    for key, route in openapi.app_routes(chalice_app).items():
        if route.doc is None or route.doc.body is None:
            continue
        # When the spec's request body is read
        schema = operations[key]["requestBody"]["content"]["application/json"]["schema"]

        # Then it is the model's component
        assert schema == {"$ref": f"#/components/schemas/{route.doc.body.rsplit(':', 1)[1]}"}, key


def test_operations_reply_with_their_declared_models(chalice_app: Chalice, spec: dict[str, Any]) -> None:
    # Given the routes that declare a response model
    operations = _operations(spec)
    for key, route in openapi.app_routes(chalice_app).items():
        if route.doc is None or route.doc.response is None:
            continue
        # When the spec's success responses are read
        name = route.doc.response.rsplit(":", 1)[1]
        for status in openapi.statuses(route.doc):
            media = operations[key]["responses"][str(status)]["content"]["application/json"]

            # Then each is the model's component
            assert media["schema"] == {"$ref": f"#/components/schemas/{name}"}, (key, status)


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


def test_the_error_table_is_derived_from_the_error_classes(spec: dict[str, Any]) -> None:
    # Given the error classes of the domains (each with a status and a code)
    from chalicelib.core.deleted import AccountDeletedError
    from chalicelib.dm.errors import TooManyReactionsError
    from chalicelib.social.logic_phone import InvalidCodeError

    responses = spec["components"]["responses"]

    # Then each code is documented under its status
    for cls in (AccountDeletedError, TooManyReactionsError, InvalidCodeError):
        name = openapi.ERROR_RESPONSE_NAMES[cls.status]
        assert f"`{cls.code}`" in responses[name]["description"], cls
    assert openapi.error_codes()[409]["sold_out"]


def _toy_app(*, undeclared: bool = False, body_on_204: bool = False) -> Chalice:
    from chalicelib.core.web import Api, ApiRequest

    app = Chalice(app_name="toy")
    bp = Blueprint("toy")
    api = Api(bp)

    @api.route("/v1/health", methods=["GET"], auth=False, response="chalicelib.health.models:Health")
    def toy_health(request: ApiRequest) -> dict[str, str]:
        """Health."""
        return {"status": "ok"}

    if undeclared:

        @bp.route("/v1/secret", methods=["GET"])
        def toy_secret() -> dict[str, str]:
            """Declared with Blueprint.route and nothing else."""
            return {}

    if body_on_204:

        @api.route("/v1/nothing", methods=["PUT"], response="chalicelib.health.models:Health")
        def toy_nothing(request: ApiRequest) -> None:
            """Returns nothing but declares a body."""

    app.register_blueprint(bp)
    return app


def test_a_route_that_declares_nothing_fails_the_build() -> None:
    # Given an app with a route that declares no contract
    # When the spec is built
    # Then it fails, naming the route
    with pytest.raises(SpecDriftError, match="route GET /v1/secret declares no contract"):
        openapi.build_spec(_toy_app(undeclared=True))


def test_a_204_handler_declaring_a_body_fails_the_build() -> None:
    # Given a handler annotated ``-> None`` that declares a response model
    # When the spec is built
    # Then it fails on the disagreement
    with pytest.raises(SpecDriftError, match="PUT /v1/nothing: the handler returns None"):
        openapi.build_spec(_toy_app(body_on_204=True))


def test_auth_and_status_come_from_the_route() -> None:
    # Given a public route declared with its model
    spec = openapi.build_spec(_toy_app())

    # When its operation is read
    op = spec["paths"]["/v1/health"]["get"]

    # Then it is public, answers 200 with the model, and says so in its summary
    assert op["security"] == [] and "401" not in op["responses"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"
    }
    assert op["summary"] == "Health."
