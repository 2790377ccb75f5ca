"""The API contract: renders the OpenAPI 3.1 document from what the routes declare.

``python -m local.openapi`` writes ``openapi.yaml`` (``--check``: exit 1 when it is stale).
Nothing is restated here: each route declares its models, statuses and parameters
(``Api.route``, :mod:`chalicelib.core.routedoc`; the handler's docstring is its text). Schemas are
the models' ``model_json_schema`` (``$defs`` hoisted into ``components/schemas``); the error-code
table comes from the :class:`DomainError` subclasses. An undeclared route is a :class:`SpecDriftError`.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from chalicelib.core.routedoc import ATTRIBUTE, Param, RouteDoc

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
REF = "#/components/schemas/{model}"
Schema = dict[str, Any]
METHOD_ORDER = ["GET", "PUT", "POST", "PATCH", "DELETE"]
# Path ids: the characters a URL path segment carries verbatim; anything else → 400 (core/web.py).
PATH_ID_PATTERN = "^[A-Za-z0-9._~!$&'()*+,=:@-]+$"
ERROR_RESPONSE_NAMES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                        409: "Conflict", 413: "PayloadTooLarge", 422: "Unprocessable", 429: "RateLimited",
                        503: "Unavailable"}  # fmt: skip
TAGS = {
    "health": "Liveness.",
    "social": "Follows, friends, blocks, DM policy, finding friends from contacts.",
    "dm": "Conversations, messages, read state, requests, attachments, reports.",
    "share": "Videos and sharing them to friends in one call.",
    "notify": "Push devices.",
    "account": "Account deletion and data export.",
    "realtime": "WebSocket discovery.",
    "live": "Live streams and their chat.",
    "checkout": "Products, pinned flash sales, orders and payments.",
    "docs": "This reference (local and test stages only).",
}
# OpenAPI 3.1 allows a DELETE body; ``DELETE /v1/me`` needs one (its confirmation, issue 20).
DELETES_WITH_BODY = {("DELETE", "/v1/me")}


class SpecDriftError(AssertionError):
    """A route and its declaration disagree, or a route declares nothing."""


def ref(name: str) -> Schema:
    """A ``$ref`` to a component schema."""
    return {"$ref": REF.format(model=name)}


def load_model(dotted: str) -> type[BaseModel]:
    """``"module:Class"`` → the class."""
    module, _, name = dotted.partition(":")
    model: type[BaseModel] = getattr(importlib.import_module(module), name)
    return model


@dataclass(frozen=True)
class Route:
    """One route of the app with its declaration."""

    method: str
    path: str
    handler: str
    module: str
    doc: RouteDoc | None
    returns_none: bool | None = None

    @property
    def tag(self) -> str:
        """The domain that serves it (``functions.<domain>.api``)."""
        domain = self.module.split(".")[1] if self.module.startswith("chalicelib.") else self.module
        return {"apidocs": "docs"}.get(domain, domain)


def app_routes(chalice_app: Any) -> dict[tuple[str, str], Route]:
    """Every ``(METHOD, path)`` the Chalice app serves, with the :class:`RouteDoc` it declares."""
    found: dict[tuple[str, str], Route] = {}
    for path, methods in chalice_app.routes.items():
        for method, entry in methods.items():
            view = entry.view_function
            handler = getattr(view, "__wrapped__", view)
            returns = inspect.signature(handler).return_annotation
            returns_none = None if returns is inspect.Signature.empty else returns in (None, "None")
            found[(method.upper(), path)] = Route(
                method.upper(), path, handler.__name__, handler.__module__, getattr(view, ATTRIBUTE, None),
                returns_none,
            )  # fmt: skip
    return found


def statuses(doc: RouteDoc) -> list[int]:
    """The success statuses of an operation."""
    return (
        sorted(doc.replies) if doc.replies else [204 if doc.response is None and doc.wrapped else doc.status]
    )


def drift(routes: Mapping[tuple[str, str], Route]) -> list[str]:
    """Human-readable disagreements between the routes and what they declare."""
    problems = []
    for (method, path), route in sorted(routes.items()):
        where, doc = f"{method} {path}", route.doc
        if doc is None:
            problems.append(f"route {where} declares no contract (use Api.route or routedoc.describe)")
            continue
        if route.returns_none is True and doc.response is not None:
            problems.append(f"{where}: the handler returns None (204) but declares {doc.response}")
        if route.returns_none is False and doc.wrapped and doc.response is None:
            problems.append(f"{where}: the handler returns a body but declares no response model")
        if doc.wrapped and doc.status not in statuses(doc) and doc.response is not None:
            problems.append(
                f"{where}: the route answers {doc.status} by default; it declares {statuses(doc)}"
            )
        if doc.body and (method == "GET" or (method == "DELETE" and (method, path) not in DELETES_WITH_BODY)):
            problems.append(f"{where}: a request body on {method}")
        problems += [
            f"{where}: unknown error status {s}" for s in doc.errors if s not in ERROR_RESPONSE_NAMES
        ]
    return problems


def model_schema(model: type[BaseModel], mode: str = "validation") -> tuple[Schema, dict[str, Schema]]:
    """The model's JSON schema with ``$defs`` hoisted out (returned separately, for components)."""
    schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    return schema, schema.pop("$defs", {})


def error_classes() -> list[type[Any]]:
    """Every :class:`DomainError` subclass of the deployed code (each domain module imported)."""
    import chalicelib
    from chalicelib.core.errors import DomainError

    for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
        importlib.import_module(module.name)

    def below(cls: type[Any]) -> list[type[Any]]:  # parents before children
        subs = sorted(cls.__subclasses__(), key=lambda c: (c.__module__, c.__name__))
        return [c for sub in subs for c in (sub, *below(sub))]

    return below(DomainError)


def error_codes() -> dict[int, dict[str, str]]:
    """``{status: {code: what it means}}`` from the error classes (the most general class names a code)."""
    table: dict[int, dict[str, str]] = {status: {} for status in ERROR_RESPONSE_NAMES}
    for cls in error_classes():
        doc = " ".join((inspect.getdoc(cls) or cls.code).split())
        table.setdefault(cls.status, {}).setdefault(cls.code, doc)
    return table


def _error_response(status: int, codes: Mapping[str, str]) -> Schema:
    code, message = next(iter(codes.items()))
    out: Schema = {
        "description": "; ".join(f"`{c}`: {text}" for c, text in codes.items()),
        "content": {
            "application/json": {"schema": ref("Error"), "example": {"code": code, "message": message}}
        },
    }
    if status == 429:
        retry = {"description": "Seconds to wait before retrying.", "required": True}
        out["headers"] = {"Retry-After": {**retry, "schema": {"type": "integer", "minimum": 1}}}
    if status == 401:
        challenge = {"description": "The bearer challenge.", "schema": {"type": "string"}}
        out["headers"] = {"WWW-Authenticate": challenge}
    return out


def _error_schema(table: Mapping[int, Mapping[str, str]]) -> Schema:
    codes = "; ".join(f"{s}: " + ", ".join(f"`{c}`" for c in table[s]) for s in sorted(table) if table[s])
    return {
        "type": "object",
        "description": "Every error body.",
        "properties": {
            "code": {
                "type": "string",
                "pattern": "^[a-z][a-z0-9_]*$",
                "description": f"Machine-readable snake_case code. {codes}",
                "examples": ["validation_error", "not_found"],
            },
            "message": {"type": "string", "description": "Human-readable text (never match on it)."},
        },
        "required": ["code", "message"],
        "additionalProperties": False,
    }


def _path_parameter(name: str) -> Schema:
    schema: Schema = {"type": "string", "minLength": 1, "maxLength": 128}
    chars = "characters"
    if name.endswith("_id"):  # ids: URL-safe ASCII only (core/web.py)
        schema, chars = {**schema, "pattern": PATH_ID_PATTERN}, "of `A-Z a-z 0-9 -._~!$&'()*+,=:@`"
    what = name.replace("_", " ")
    return {"name": name, "in": "path", "required": True, "description": f"The {what} (1 to 128 {chars}).",
            "schema": schema}  # fmt: skip


def _parameter(param: Param) -> Schema:
    out: Schema = {"name": param.name, "in": param.location, "required": param.required,
                   "description": param.description, "schema": param.schema}  # fmt: skip
    if param.example is not None:
        out["example"] = param.example
    return out


def error_statuses(path: str, doc: RouteDoc) -> list[int]:
    """Every error status an operation may answer: the wrapper's own plus the route's."""
    found = set(doc.errors)
    if doc.wrapped:  # 400: bad path, query, headers or body; 413: over max_body; 503: AWS busy
        has_input = re.search(r"{\w+}", path) or doc.params or doc.body
        found |= {s for s, on in ((400, has_input), (413, doc.body), (401, doc.auth), (503, doc.aws)) if on}
    return sorted(found)


def _success(doc: RouteDoc, status: int, name: str | None) -> Schema:
    out: Schema = {"description": doc.replies.get(status) or ("Done (no body)." if status == 204 else "OK.")}
    if doc.media is not None:
        out["content"] = {media: {"schema": schema} for media, schema in doc.media.items()}
    elif name is not None:
        content: Schema = {"schema": ref(name)}
        if doc.response_example is not None and status == doc.status:
            content["example"] = doc.response_example
        out["content"] = {"application/json": content}
    return out


def _component(dotted: str, mode: str, schemas: dict[str, Schema]) -> str:
    """Add the model (and the models it uses) to ``schemas``; its component name."""
    model = load_model(dotted)
    schema, defs = model_schema(model, mode)
    schemas.update({**defs, model.__name__: schema})
    return model.__name__


def _operation(route: Route, schemas: dict[str, Schema]) -> Schema:
    doc = route.doc
    assert doc is not None
    operation: Schema = {"operationId": route.handler, "summary": doc.summary, "tags": [route.tag]}
    if doc.description:
        operation["description"] = doc.description
    params = [_path_parameter(n) for n in re.findall(r"{(\w+)}", route.path)] + [
        _parameter(p) for p in doc.params
    ]
    if params:
        operation["parameters"] = params
    if doc.body is not None:
        media: Schema = {"schema": ref(_component(doc.body, "validation", schemas))}
        if doc.example is not None:
            media["example"] = doc.example
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    name = None if doc.response is None else _component(doc.response, "serialization", schemas)
    responses = {str(s): _success(doc, s, name) for s in statuses(doc)}
    for status in error_statuses(route.path, doc):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERROR_RESPONSE_NAMES[status]}"}
    operation["responses"] = responses
    if not doc.auth:
        operation["security"] = []
    return operation


def build_spec(chalice_app: Any | None = None, *, strict: bool = True) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``chalice_app`` (default: ``app.app``).

    With ``strict`` (the default), any :func:`drift` raises :class:`SpecDriftError`; without it,
    routes that declare nothing are left out.
    """
    if chalice_app is None:
        from app import app as chalice_app
    routes = app_routes(chalice_app)
    problems = drift(routes)
    if problems and strict:
        raise SpecDriftError("\n".join(problems))
    table = error_codes()
    schemas: dict[str, Schema] = {"Error": _error_schema(table)}
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), route in sorted(
        routes.items(), key=lambda kv: (kv[0][1], METHOD_ORDER.index(kv[0][0]))
    ):
        if route.doc is not None:
            paths.setdefault(path, {})[method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "socialvideo API",
            "version": "1.0.0",
            "summary": "The social layer of a short-video app: graph, DMs, shares, live chat, in-stream "
            "purchase.",
            "description": (
                "JSON in and out. IDs the server creates are ULIDs; timestamps are ISO-8601 UTC with "
                'milliseconds. Every error is `{"code", "message"}`. Lists take `?limit=` (1 to 100, '
                'default 20) and `?cursor=` and reply `{"items", "next_cursor"}`. Every route needs '
                "`Authorization: Bearer <JWT>` except the health check, the payment webhook and these "
                "docs. Locally, `make -s token USER=demo-alice` prints a token.\n\n"
                "Generated by `python -m local.openapi` from the routes' declarations and the domains' "
                "pydantic models; do not edit `openapi.yaml` by hand."
            ),
        },
        "servers": [{"url": "/", "description": "This server (e.g. `make run` on http://127.0.0.1:8000)."}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "RS256 access token (Cognito in AWS, a local key pair in `make run`); "
                    "the caller is its `sub`.",
                }
            },
            "responses": {
                name: _error_response(s, table[s]) for s, name in sorted(ERROR_RESPONSE_NAMES.items())
            },
            "schemas": dict(sorted(schemas.items())),
        },
    }


def _declared(kind: str, chalice_app: Any | None = None) -> dict[str, type[BaseModel]]:
    if chalice_app is None:
        from app import app as chalice_app
    dotted = {
        getattr(r.doc, kind) for r in app_routes(chalice_app).values() if r.doc and getattr(r.doc, kind)
    }
    models = [load_model(d) for d in sorted(dotted)]
    return {model.__name__: model for model in models}


def response_models(chalice_app: Any | None = None) -> dict[str, type[BaseModel]]:
    """Every response model the routes declare, by component name."""
    return _declared("response", chalice_app)


def request_models(chalice_app: Any | None = None) -> dict[str, type[BaseModel]]:
    """Every request model the routes declare, by component name."""
    return _declared("body", chalice_app)


def to_yaml(spec: Mapping[str, Any]) -> str:
    """Stable YAML text of the document (key order kept, long lines not folded)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    _Dumper.add_representer(str, _str)
    header = "# Generated by `python -m local.openapi` from the code. Do not edit by hand.\n"
    body = yaml.dump(dict(spec), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100_000)
    return header + body


def load_yaml(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The committed document."""
    import yaml

    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None, out: Callable[[str], object] = print) -> int:
    """``python -m local.openapi [--check] [--output PATH]``."""
    parser = argparse.ArgumentParser(description="Generate (or check) openapi.yaml from the code.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the code")
    parser.add_argument("--output", type=Path, default=SPEC_PATH)
    args = parser.parse_args(argv)
    text = to_yaml(build_spec())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            out(f"{args.output} is out of date: run `python -m local.openapi` and commit the result.")
            return 1
        out(f"{args.output} matches the code.")
        return 0
    args.output.write_text(text, encoding="utf-8")
    out(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
