"""The one middleware: log context per invocation, one error table, metrics flushed every time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from chalice import Chalice
from chalice.app import SNSEvent
from chalice.test import Client

from chalicelib.core import middleware
from chalicelib.core.errors import NotFoundError, RateLimitedError
from chalicelib.core.observability import logger, metrics, record_event


class Context:
    """The parts of Lambda's context the middleware reads."""

    function_name = "socialvideo-test-fn"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:socialvideo-test-fn"

    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id


@pytest.fixture(autouse=True)
def clean_logger() -> Iterator[None]:
    yield
    logger.remove_keys(["function_name", "function_memory_size", "function_arn", "function_request_id"])
    logger.set_correlation_id(None)
    metrics().clear_metrics()


def _ws_event(request_id: str = "ws-req-1") -> dict[str, Any]:
    return {"requestContext": {"requestId": request_id, "routeKey": "$default", "connectionId": "c1"}}


def test_a_websocket_handler_error_is_answered_by_the_one_table() -> None:
    # Given a websocket handler that refuses with a domain error
    @middleware.websocket_handler
    def handler(event: Any, context: Any) -> dict[str, Any]:
        raise RateLimitedError("Slow down.")

    # When it is invoked
    reply = handler(_ws_event(), Context("lambda-1"))
    # Then the client gets the error's status, code and Retry-After, as over HTTP
    assert reply["statusCode"] == 429
    assert json.loads(reply["body"]) == {"code": "rate_limited", "message": "Slow down."}
    assert reply["headers"]["Retry-After"] == "1"


def test_aws_throttling_in_a_websocket_handler_is_503_and_a_bug_is_500() -> None:
    # Given handlers failing with AWS throttling and with a bug
    throttled = ClientError(
        {
            "Error": {"Code": "ThrottlingException", "Message": ""},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "Query",
    )

    @middleware.websocket_handler
    def busy(event: Any, context: Any) -> dict[str, Any]:
        raise throttled

    @middleware.websocket_handler
    def buggy(event: Any, context: Any) -> dict[str, Any]:
        raise KeyError("oops")

    # When they are invoked (without a context, as tests do)
    # Then the first says retry later, the second hides the bug behind internal_error
    assert busy(_ws_event(), None)["statusCode"] == 503
    bug = buggy(_ws_event(), None)
    assert bug["statusCode"] == 500
    assert json.loads(bug["body"])["code"] == "internal_error"


def test_the_logger_carries_the_invocation_context_and_correlation_id() -> None:
    # Given a websocket handler that looks at the logger's keys
    seen: dict[str, Any] = {}

    @middleware.websocket_handler
    def handler(event: Any, context: Any) -> dict[str, Any]:
        seen.update(logger.get_current_keys())
        return {"statusCode": 200}

    # When it is invoked with API Gateway's request id and a Lambda context
    handler(_ws_event("apigw-42"), Context("lambda-42"))
    # Then every line of the invocation names the function, the request and the correlation id
    assert seen["function_name"] == "socialvideo-test-fn"
    assert seen["function_request_id"] == "lambda-42"
    assert seen["correlation_id"] == "apigw-42"
    assert isinstance(seen["cold_start"], bool)

    # When the next invocation has no context
    seen.clear()
    handler(_ws_event("apigw-43"), None)
    # Then no stale request id is left over
    assert "function_request_id" not in seen
    assert seen["correlation_id"] == "apigw-43"
    assert seen["cold_start"] is False


def _app_with_handlers() -> Chalice:
    app = Chalice(app_name="middleware-test")
    middleware.register(app)

    @app.on_sns_message(topic="t", name="failing")
    def failing(event: SNSEvent) -> None:
        record_event("attempted")
        raise NotFoundError("gone")

    @app.on_sns_message(topic="t", name="counting")
    def counting(event: SNSEvent) -> None:
        record_event("counted")
        assert logger.get_current_keys()["correlation_id"] is not None

    return app


def test_event_handlers_re_raise_and_metrics_are_flushed_either_way() -> None:
    # Given an app whose event handlers record a metric, one then failing
    app = _app_with_handlers()
    with Client(app) as client:
        event = client.events.generate_sns_event(message="hi")
        # When the failing one runs
        with pytest.raises(NotFoundError):
            client.lambda_.invoke("failing", event)
        # Then the error reaches the event source (it retries) and the buffer was flushed
        assert not metrics().metric_set
        # When the other one runs
        client.lambda_.invoke("counting", event)
        # Then its metric was flushed too
        assert not metrics().metric_set


def test_http_routes_run_in_the_middleware_and_raw_routes_use_the_one_table() -> None:
    # Given an app with a raw route that raises a domain error
    app = Chalice(app_name="middleware-http-test")
    middleware.register(app)
    seen: dict[str, Any] = {}

    @app.route("/raw")
    @middleware.maps_errors
    def raw() -> Any:
        seen.update(logger.get_current_keys())
        raise RateLimitedError("Slow down.")

    with Client(app) as client:
        # When it is called
        response = client.http.get("/raw")
    # Then it answers the one table's reply (not Chalice's own 500), in the invocation's context
    assert response.status_code == 429
    assert json.loads(response.body) == {"code": "rate_limited", "message": "Slow down."}
    assert response.headers["Retry-After"] == "1"
    assert "cold_start" in seen
