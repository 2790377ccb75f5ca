"""The document is valid OpenAPI 3.1, and its examples satisfy their own schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from local import openapi


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    """The committed openapi.yaml."""
    return openapi.load_yaml()


def test_committed_spec_is_valid_openapi_3_1(committed: dict[str, Any]) -> None:
    # Given the committed document
    # When openapi-spec-validator checks it as OpenAPI 3.1
    errors = list(OpenAPIV31SpecValidator(committed).iter_errors())

    # Then it reports nothing
    assert committed["openapi"] == "3.1.0"
    assert [str(e) for e in errors] == []
    validate(committed, cls=OpenAPIV31SpecValidator)


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A 2020-12 validator for ``schema`` whose ``#/components/...`` refs resolve into ``spec``."""
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:spec", resource)
    return Draft202012Validator(
        _reroot(schema), registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _reroot(value: Any) -> Any:
    """Point local ``#/components/...`` refs at the registered document."""
    if isinstance(value, dict):
        return {
            k: ("urn:spec" + v if k == "$ref" and isinstance(v, str) and v.startswith("#/") else _reroot(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_reroot(v) for v in value]
    return value


def iter_examples(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """``(where, schema, example)`` for every example in the document's operations."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            for param in operation.get("parameters", []):
                if "example" in param:
                    yield f"{where} parameter {param['name']}", param["schema"], param["example"]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "example" in body:
                yield f"{where} request body", body["schema"], body["example"]
            for status, response in operation["responses"].items():
                media = response.get("content", {}).get("application/json", {})
                if "example" in media:
                    yield f"{where} {status} response", media["schema"], media["example"]


def test_every_example_satisfies_its_schema(committed: dict[str, Any]) -> None:
    # Given every example of parameters, request bodies and responses
    examples = list(iter_examples(committed))
    assert len(examples) >= 30

    for where, schema, example in examples:
        # When it is validated against the schema next to it
        errors = [e.message for e in _validator(committed, schema).iter_errors(example)]

        # Then it conforms (schemathesis sends these examples first)
        assert errors == [], where


def test_error_examples_satisfy_the_error_schema(committed: dict[str, Any]) -> None:
    # Given the shared error responses
    for name, response in committed["components"]["responses"].items():
        media = response["content"]["application/json"]
        # When the example is validated against the Error schema
        errors = [e.message for e in _validator(committed, media["schema"]).iter_errors(media["example"])]
        # Then it conforms
        assert errors == [], name


def test_request_models_reject_what_the_spec_rejects() -> None:
    # Given a body that breaks a documented limit (note over 500 characters)
    from pydantic import ValidationError

    from chalicelib.share.models import ShareRequest

    # When the code's own model validates it
    # Then it refuses it, like the spec's maxLength does
    with pytest.raises(ValidationError):
        ShareRequest.model_validate({"recipient_ids": ["demo-bob"], "note": "x" * 501})
    schema = openapi.load_yaml()["components"]["schemas"]["ShareRequest"]
    assert schema["properties"]["note"]["anyOf"][0]["maxLength"] == 500
