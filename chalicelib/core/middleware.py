"""The one middleware every invocation runs in: HTTP routes, WebSocket routes and event handlers.

Per invocation it does what Powertools' ``Logger.inject_lambda_context`` and
``Metrics.log_metrics(capture_cold_start_metric=True)`` do on a plain Lambda handler, without
their assumption that a context object is always there (tests invoke handlers with ``None``):

- the logger carries ``function_name``, ``function_memory_size``, ``function_arn``,
  ``function_request_id`` and ``cold_start``, and a correlation id (API Gateway's request id for
  HTTP and WebSocket, the Lambda request id for events);
- buffered metrics are flushed as one EMF line when it ends, however it ends, and the first
  successful invocation of the process adds the ``ColdStart`` metric;
- errors are mapped with :func:`error_reply`, the ONE table from exceptions to
  ``{"code", "message"}`` + status: a WebSocket route answers it, an event handler logs and
  re-raises (the event source retries).

It is registered once on the app (``app.register_middleware(middleware)``, every event type).
Two places Chalice does not route through registered middleware use the same function:

- HTTP view exceptions never reach middleware (Chalice turns them into its own 500) unless they
  are ``ChaliceUnhandledError``: ``chalicelib.core.web``'s route wrapper answers them with
  :func:`error_reply`, and raw routes use :func:`maps_errors`, which hands them here;
- Blueprint WebSocket handlers are registered unwrapped (Chalice wraps ``on_ws_*`` only on the
  app itself): :func:`websocket_handler` runs them through :func:`middleware`.

Imports stay light (chalice, Powertools, core errors): every route module reaches this one.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalice import Response
from chalice.app import ChaliceUnhandledError, Request, WebsocketEvent

from chalicelib.core.errors import DomainError, RateLimitedError, UnauthorizedError, UnavailableError
from chalicelib.core.observability import logger, metrics

# --- the one error table -------------------------------------------------------------------

# Error codes meaning "AWS is busy", whatever the service (a dal that does not translate them).
_BUSY_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalServerError",
    }
)


def is_transient_aws_error(err: BaseException) -> bool:
    """A timeout, a connection failure, throttling or a 5xx from AWS: the client may retry
    (503 with Retry-After, not 500)."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(err, ClientError):
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return status >= 500 or err.response.get("Error", {}).get("Code") in _BUSY_CODES
    return isinstance(err, BotoConnectionError | HTTPClientError)


@dataclass(frozen=True)
class ErrorReply:
    """What a client is told about an error: status, ``{"code", "message"}`` and headers."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, str]:
        """The error body every route and socket answers."""
        return {"code": self.code, "message": self.message}


def error_reply(err: BaseException, *, where: str = "") -> ErrorReply:
    """The one mapping from an exception to what the client sees (never by message text).

    A :class:`DomainError` answers its own status and code; AWS being busy or down answers 503
    ``unavailable``; anything else is logged with its traceback and answers 500.
    """
    if not isinstance(err, DomainError):
        if is_transient_aws_error(err):
            logger.warning("AWS unavailable", extra={"route": where, "error": repr(err)})
            err = UnavailableError("A dependency is unavailable; retry.")
        else:
            logger.exception("unhandled error", extra={"route": where})
            return ErrorReply(500, "internal_error", "Something went wrong; retry later.")
    headers: dict[str, str] = {}
    if isinstance(err, RateLimitedError | UnavailableError):
        # 429 and 503 tell the client when to try again (RFC 9110 §10.2.3).
        headers["Retry-After"] = str(err.retry_after)
    if isinstance(err, UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="socialvideo"'
    return ErrorReply(err.status, err.code, err.message, headers)


class MappedError(ChaliceUnhandledError):
    """Carries a raw route's exception past Chalice's view handling to :func:`middleware`."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


def _http_error(err: BaseException, where: str) -> Response:
    reply = error_reply(err, where=where)
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json", **reply.headers}
    body = json.dumps(reply.body(), separators=(",", ":"))
    return Response(body=body, status_code=reply.status, headers=headers)


# --- per-invocation context ------------------------------------------------------------------

_LAMBDA_FIELDS = {
    "function_name": "function_name",
    "function_memory_size": "memory_limit_in_mb",
    "function_arn": "invoked_function_arn",
    "function_request_id": "aws_request_id",
}
_cold_start = True


def _take_cold_start() -> bool:
    """True on the first invocation of this process (never under provisioned concurrency)."""
    global _cold_start
    cold = _cold_start and os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency"
    _cold_start = False
    return cold


def _inject_context(context: Any, correlation_id: str | None, cold_start: bool) -> None:
    """The logger keys ``inject_lambda_context`` appends, plus the correlation id."""
    present = {key: getattr(context, attr, None) for key, attr in _LAMBDA_FIELDS.items()}
    missing = [key for key, value in present.items() if value is None]
    if missing:
        logger.remove_keys(missing)  # no stale request id from an earlier invocation
    logger.append_keys(cold_start=cold_start, **{k: v for k, v in present.items() if v is not None})
    logger.set_correlation_id(correlation_id or None)


def _cold_start_metric(context: Any) -> None:
    """``ColdStart`` (one EMF line of its own, as Powertools emits it), dimensioned by function."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    m = metrics()
    name = getattr(context, "function_name", None) or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "unknown"
    with single_metric(name="ColdStart", unit=MetricUnit.Count, value=1, namespace=m.namespace) as metric:
        metric.add_dimension(name="function_name", value=str(name))
        if m.service:
            metric.add_dimension(name="service", value=str(m.service))


def _flush_metrics() -> None:
    """Emit buffered metrics as one EMF line, if any were recorded (no empty-set warning)."""
    m = metrics()
    if m.metric_set:
        m.flush_metrics()


@dataclass(frozen=True)
class RawWebsocketEvent:
    """A Blueprint WebSocket handler's ``(event, context)``, as middleware sees it."""

    event: Mapping[str, Any]
    context: Any

    def to_dict(self) -> Mapping[str, Any]:
        """The API Gateway event."""
        return self.event


def _kind_and_correlation(event: Any) -> tuple[str, Any, str | None]:
    """("http" | "websocket" | "event", the Lambda context, the correlation id)."""
    if isinstance(event, Request):
        return "http", event.lambda_context, str((event.context or {}).get("requestId", "")) or None
    context = getattr(event, "context", None)
    if isinstance(event, RawWebsocketEvent | WebsocketEvent):
        request_context = event.to_dict().get("requestContext") or {}
        return "websocket", context, str(request_context.get("requestId", "")) or None
    return "event", context, getattr(context, "aws_request_id", None)


def middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Run one invocation: logger context, error mapping, metrics flush (see the module doc)."""
    kind, context, correlation_id = _kind_and_correlation(event)
    cold_start = _take_cold_start()
    _inject_context(context, correlation_id, cold_start)
    try:
        try:
            response = get_response(event)
        except MappedError as err:  # a raw HTTP route's error (see maps_errors)
            response = _http_error(err.error, getattr(event, "path", ""))
        except Exception as err:
            if kind == "http":
                raise  # Chalice's own last-resort handler answers 500
            if kind == "websocket":
                route = (event.to_dict().get("requestContext") or {}).get("routeKey", "")
                reply = error_reply(err, where=str(route))
                response = {
                    "statusCode": reply.status,
                    "headers": {"Content-Type": "application/json", **reply.headers},
                    "body": json.dumps(reply.body()),
                }
            else:
                # The event source retries (stream, SNS, schedule): log with context, re-raise.
                logger.exception("event handler failed")
                raise
        if cold_start:
            _cold_start_metric(context)
        return response
    finally:
        _flush_metrics()


# --- where Chalice does not apply registered middleware --------------------------------------

WsHandler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


def websocket_handler(handler: WsHandler) -> WsHandler:
    """Run a Blueprint WebSocket handler ``(event, context)`` through :func:`middleware`."""

    @functools.wraps(handler)
    def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        result: dict[str, Any] = middleware(
            RawWebsocketEvent(event, context), lambda raw: handler(raw.event, raw.context)
        )
        return result

    return lambda_handler


RawView = Callable[..., Response]


def maps_errors(view: RawView) -> RawView:
    """For a raw ``bp.route`` view (not JSON through ``Api.route``): its exceptions are answered by
    :func:`middleware` with the one error table instead of Chalice's own 500."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except Exception as err:
            raise MappedError(err) from err

    return wrapper


def register(app: Any) -> None:
    """Install :func:`middleware` for every event type of ``app``."""
    app.register_middleware(middleware, "all")
