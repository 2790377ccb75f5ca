"""What a route declares about itself for the API contract (issue 17): its response model, error
statuses, request model, parameters, summary and description.

``Api.route(...)`` (chalicelib.core.web) records one :class:`RouteDoc` on the view; routes declared
with ``Blueprint.route`` (non-JSON replies) attach one with :func:`describe`. ``local/openapi.py``
renders ``openapi.yaml`` from these declarations and nothing else.

Light on purpose (route modules import it at cold start): models are named by dotted strings
(``"chalicelib.share.models:ShareResult"``) and only imported by the renderer, never here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
Schema = dict[str, Any]
ATTRIBUTE = "route_doc"


@dataclass(frozen=True)
class Param:
    """A query or header parameter of an operation."""

    name: str
    location: str
    schema: Schema
    description: str
    required: bool = False
    example: Any = None


@dataclass(frozen=True)
class RouteDoc:
    """One operation as its route declares it.

    ``response`` names the pydantic model of every success body (``"module:Class"``; ``None``
    for 204); ``replies`` gives each success status its description (default: ``status`` only).
    ``errors`` are the statuses the handler's own errors may answer; the renderer adds those of
    the wrapper (400 for any input, 401 with auth, 413 with a body, 503 for AWS).
    """

    summary: str
    description: str = ""
    auth: bool = True
    status: int = 200
    response: str | None = None
    replies: Mapping[int, str] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    body: str | None = None
    example: Any = None
    response_example: Any = None
    params: tuple[Param, ...] = ()
    aws: bool = True
    wrapped: bool = True
    # Non-JSON replies: media type → body schema (the docs page and its assets).
    media: Mapping[str, Schema] | None = None


def split_docstring(handler: Callable[..., Any]) -> tuple[str, str]:
    """``(summary, description)``: the docstring's first paragraph and the rest, each on one line
    per paragraph (the docstring is the operation's text in the spec)."""
    paragraphs = [" ".join(p.split()) for p in inspect.cleandoc(handler.__doc__ or "").split("\n\n")]
    paragraphs = [p for p in paragraphs if p]
    return (paragraphs[0] if paragraphs else handler.__name__), "\n\n".join(paragraphs[1:])


def make_doc(handler: Callable[..., Any], description: str | None = None, **fields: Any) -> RouteDoc:
    """The :class:`RouteDoc` of ``handler``: summary and description from its docstring unless given."""
    summary, from_docstring = split_docstring(handler)
    return RouteDoc(
        summary=summary, description=from_docstring if description is None else description, **fields
    )


def describe(**fields: Any) -> Callable[[F], F]:
    """Attach a :class:`RouteDoc` to a ``Blueprint.route`` view (one the ``Api`` wrapper does not see)."""

    def decorator(view: F) -> F:
        setattr(view, ATTRIBUTE, make_doc(view, wrapped=False, **fields))
        return view

    return decorator


# Parameters many routes share.
LIMIT = Param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    "Page size (1 to 100, default 20).",
    example=20,
)
CURSOR = Param(
    "cursor",
    "query",
    {"type": "string", "minLength": 1, "maxLength": 2048, "pattern": "^[\\x21-\\x7E]+$"},
    "Opaque cursor from the previous page's `next_cursor` (visible ASCII; signed and bound to the "
    "caller and the listing: anything else is 400 `invalid_cursor`).",
)
IDEMPOTENCY_KEY_SCHEMA: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": "^[\\x21-\\x7E]([\\x20-\\x7E]*[\\x21-\\x7E])?$",
}
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    IDEMPOTENCY_KEY_SCHEMA,
    "Retry key (1 to 255 printable characters): the same key with the same body returns the original "
    "response without doing anything twice; with a different body → 422 `idempotency_key_reused`.",
    required=True,
    example="3f0c2a4e-8d7b-4b1e-9a51-0c1f5e2d7a10",
)
PAGE = (LIMIT, CURSOR)
