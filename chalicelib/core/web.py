"""The HTTP edge shared by every Blueprint: auth, body parsing, error mapping, replies.

Routes are declared with :class:`Api` (a thin wrapper around ``Blueprint.route``). The wrapper
authenticates the caller and answers every exception with the one error table
(``chalicelib.core.middleware.error_reply``: view exceptions never reach Chalice middleware).
The log context, correlation id and metrics flush are the middleware's
(``chalicelib.core.middleware``), as for every other handler.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Blueprint, Response

from chalicelib.core.auth import authenticate
from chalicelib.core.deleted import ensure_active
from chalicelib.core.errors import PayloadTooLargeError, ValidationError
from chalicelib.core.middleware import error_reply
from chalicelib.core.observability import logger
from chalicelib.core.routedoc import ATTRIBUTE as ROUTE_DOC
from chalicelib.core.routedoc import make_doc

if TYPE_CHECKING:
    # pydantic is imported only when a body or query model is validated: ``import app`` (every
    # Blueprint imports this module) must not pay for it (cold start, issue 11).
    from pydantic import BaseModel
    from pydantic import ValidationError as PydanticValidationError

M = TypeVar("M", bound="BaseModel")
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Deeper JSON is refused before it can exhaust the parser's recursion (400, never 500).
MAX_JSON_DEPTH = 64
MAX_CURSOR_LENGTH = 2048


@dataclass(frozen=True)
class Page:
    """Paging parameters parsed from ``?limit=&cursor=``."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass
class Reply:
    """A handler's reply when the status or headers are decided at run time."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def _jsonable(body: Any) -> Any:
    if hasattr(body, "model_dump") and not isinstance(body, type):  # a pydantic model
        return body.model_dump(mode="json")
    if isinstance(body, list):
        return [_jsonable(b) for b in body]
    if isinstance(body, dict):
        return {k: _jsonable(v) for k, v in body.items()}
    return body


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response (204 has no body)."""
    all_headers: dict[str, str | list[str]] = {"Content-Type": "application/json", **(headers or {})}
    if status == 204:
        return Response(body="", status_code=204, headers={**(headers or {})})
    return Response(
        body=json.dumps(_jsonable(body), separators=(",", ":")), status_code=status, headers=all_headers
    )


def error_response(err: BaseException, *, where: str = "") -> Response:
    """An exception as an HTTP response, by the one error table (``middleware.error_reply``)."""
    reply = error_reply(err, where=where)
    return json_response(reply.body(), reply.status, reply.headers)


def _pydantic_message(err: PydanticValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in e.get("loc", ())) or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def _parse_number(text: str) -> float | int:
    """JSON has one number type: ``4999.0`` is the integer 4999 (as JSON Schema's ``integer``)."""
    value = float(text)
    return int(value) if value.is_integer() else value


# Characters of a path id: those a URL path segment carries verbatim (RFC 3986 unreserved,
# sub-delims but ";", ":" and "@"). No "%", "/", "?", "#": an id then reads the same whether or
# not the front end percent-decoded the path (API Gateway does; ``chalice local`` does not). No
# ";": Python's urlparse (``chalice local``) cuts ``;params`` off the last segment, so
# ``/v1/me/devices/;`` reached another route there (405) while API Gateway passes it on.
_PATH_ID = re.compile(r"[A-Za-z0-9._~!$&'()*+,=:@-]+")


def _is_ascii_token(text: str) -> bool:
    """Visible ASCII only (no spaces, no controls, no other scripts): ids, cursors, keys."""
    return text.isascii() and text.isprintable() and " " not in text


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests arrays/objects more than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if not isinstance(current, dict | list):
            continue
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children)
    return False


class ApiRequest:
    """What a route handler gets: the caller and typed accessors for the request."""

    def __init__(self, raw: Any, user_id: str, max_body: int) -> None:
        self.raw = raw
        self.user_id = user_id
        self._max_body = max_body

    def header(self, name: str) -> str | None:
        """A request header (case-insensitive)."""
        value = self.raw.headers.get(name)
        return str(value) if value is not None else None

    def query(self, name: str) -> str | None:
        """A query-string parameter."""
        return (self.raw.query_params or {}).get(name)

    def json(self) -> Any:
        """The body parsed as JSON, with 413/400 for oversized or malformed bodies."""
        raw: bytes = self.raw.raw_body or b""
        if len(raw) > self._max_body:
            raise PayloadTooLargeError(f"The request body exceeds {self._max_body} bytes.")
        if not raw.strip():
            raise ValidationError("A JSON request body is required.")
        too_deep = ValidationError(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.")
        try:
            data = json.loads(raw, parse_float=_parse_number)
        except RecursionError as err:
            raise too_deep from err
        except (ValueError, UnicodeDecodeError) as err:
            raise ValidationError("The request body is not valid JSON.") from err
        if json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise too_deep
        return data

    def body(self, model: type[M]) -> M:
        """The body validated into ``model`` (unknown fields, wrong types → 400)."""
        from pydantic import ValidationError as PydanticValidationError

        data = self.json()
        if not isinstance(data, dict):
            raise ValidationError("The request body must be a JSON object.")
        try:
            return model.model_validate(data)
        except PydanticValidationError as err:
            raise ValidationError(_pydantic_message(err)) from err

    def params(self, model: type[M]) -> M:
        """Query-string parameters validated into ``model`` (values arrive as strings)."""
        from pydantic import ValidationError as PydanticValidationError

        try:
            return model.model_validate(dict(self.raw.query_params or {}))
        except PydanticValidationError as err:
            raise ValidationError(_pydantic_message(err)) from err

    def page(self) -> Page:
        """``?limit=`` (1..100, default 20) and ``?cursor=``."""
        raw_limit = self.query("limit")
        limit = DEFAULT_LIMIT
        if raw_limit is not None:
            # ASCII digits only: "²" and "٣" pass str.isdigit() but not int(); a long run of
            # digits would hit int()'s digit limit.
            if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3):
                raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}.")
            limit = int(raw_limit)
            if not 1 <= limit <= MAX_LIMIT:
                raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}.")
        cursor = self.query("cursor")
        if cursor is not None and (
            not cursor or len(cursor) > MAX_CURSOR_LENGTH or not _is_ascii_token(cursor)
        ):
            raise ValidationError("cursor is malformed.", code="invalid_cursor")
        return Page(limit=limit, cursor=cursor)

    def idempotency_key(self) -> str:
        """The required ``Idempotency-Key`` header (1..255 printable characters)."""
        key = self.optional_idempotency_key()
        if key is None:
            raise ValidationError("The Idempotency-Key header is required.")
        return key

    def optional_idempotency_key(self) -> str | None:
        """The ``Idempotency-Key`` header where it is optional (validated when present)."""
        key = self.header("Idempotency-Key")
        if key is None:
            return None
        if not key.strip():
            raise ValidationError("The Idempotency-Key header must not be blank.")
        if len(key) > 255 or not (key.isascii() and key.isprintable()) or key != key.strip():
            raise ValidationError("The Idempotency-Key header must be 1 to 255 printable ASCII characters.")
        return key


Handler = Callable[..., Any]


def _validate_path_params(params: Mapping[str, str]) -> None:
    """Ids (``*_id``) are 1..128 URL-safe ASCII characters (never ``#``, the key separator, nor
    anything non-ASCII); other path values (an emoji...) 1..128 printable characters."""
    for name, value in params.items():
        if not value or len(value) > 128:
            raise ValidationError(f"{name} must be 1 to 128 characters.")
        if name.endswith("_id"):
            if not _PATH_ID.fullmatch(value):
                raise ValidationError(f"{name} must be letters, digits or -._~!$&'()*+,=:@ only.")
        elif not value.isprintable():
            raise ValidationError(f"{name} must be printable characters.")


# Called with the caller's id after authentication; app.py plugs in presence ("active now"),
# so core never imports a domain. A hook never fails the request.
AFTER_AUTHENTICATION: list[Callable[[str], None]] = []


def _after_authentication(user_id: str) -> None:
    for hook in AFTER_AUTHENTICATION:
        try:
            hook(user_id)
        except Exception as err:  # best effort (presence); the request's own work matters
            logger.warning("after-authentication hook failed", extra={"error": repr(err)})


class Api:
    """Declares routes on a Blueprint with the project's conventions."""

    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint

    def route(
        self,
        path: str,
        methods: list[str],
        *,
        auth: bool = True,
        status: int = 200,
        max_body: int = DEFAULT_MAX_BODY,
        response: str | None = None,
        errors: tuple[int, ...] = (),
        **contract: Any,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler(request: ApiRequest, **path_params)`` for ``path``.

        The handler returns a body (dict, model, list) sent with ``status``, a :class:`Reply`,
        or ``None`` for 204. ``response`` names the body's pydantic model (``"module:Class"``,
        imported only by the spec renderer), ``errors`` the statuses the handler's own errors
        answer; ``contract`` holds the rest of :class:`~chalicelib.core.routedoc.RouteDoc`
        (``body``, ``params``, ``replies``, ``example``, ``description``...). The handler's
        docstring is the operation's summary (first paragraph) and description (the rest).
        """

        def decorator(handler: Handler) -> Handler:
            @functools.wraps(handler)
            def view(**path_params: str) -> Response:
                raw = self.blueprint.current_request
                started = time.perf_counter()
                response: Response
                try:
                    _validate_path_params(path_params)
                    user_id = authenticate(raw.headers.get("authorization")) if auth else ""
                    if user_id:
                        ensure_active(user_id)  # deleted accounts: 401 account_deleted (issue 20)
                        _after_authentication(user_id)
                    result = handler(ApiRequest(raw, user_id, max_body), **path_params)
                    if isinstance(result, Reply):
                        response = json_response(result.body, result.status, result.headers)
                    elif result is None:
                        response = json_response(None, 204)
                    else:
                        response = json_response(result, status)
                except Exception as err:
                    response = error_response(err, where=path)
                logger.info(
                    "request",
                    extra={
                        "method": raw.method,
                        "route": path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
                return response

            doc = make_doc(handler, auth=auth, status=status, response=response, errors=errors, **contract)
            setattr(view, ROUTE_DOC, doc)
            self.blueprint.route(path, methods=methods, content_types=["*/*"])(view)
            return handler

        return decorator
