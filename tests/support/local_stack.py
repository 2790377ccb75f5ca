"""The real local stack (``make run``'s startup code) for end-to-end tests over HTTP.

One stack per test session (per xdist worker), on free ports, with its own key pair and logs
in a temporary directory, torn down at the end.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from local.seed import seed
from local.stack import Stack, StackSettings


class LocalStack:
    """What e2e tests use: URLs, tokens, boto3 clients on the stack's moto, plain HTTP."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api_url = stack.api_url
        self.ws_url = stack.ws_url
        self.moto_url = stack.moto_url
        self.log_dir = stack.log_dir
        self.env = stack.overrides  # TABLE_NAME, EVENTS_TOPIC_ARN, EVENTS_TAP_QUEUE_URL...

    def token(self, user_id: str) -> str:
        """A bearer token for ``user_id`` that the stack accepts."""
        return self.stack.token(user_id)

    def session(self) -> Any:
        """A boto3-session-like factory: ``session().client("dynamodb")`` talks to the stack's moto."""
        return self.stack.session()

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on the stack's moto."""
        return self.stack.session().client(service)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """An HTTP request to the API; ``user`` adds a valid token. Returns (status, json, headers)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.api_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if user:
            request.add_header("Authorization", f"Bearer {self.token(user)}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw, reply_headers = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as err:
            status, raw, reply_headers = err.code, err.read(), dict(err.headers)
        return status, (json.loads(raw) if raw else None), reply_headers

    def pump_log(self) -> str:
        """Everything the event pump logged so far."""
        return (self.log_dir / "pump.log").read_text(errors="replace")


@contextmanager
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The whole local stack (moto, infra, API, pump, WebSocket gateway) on free ports, seeded."""
    stack = Stack(
        StackSettings.on_free_ports(
            tmp_path_factory.mktemp("local-stack"),
            # Schedules fire every 2 s instead of their real rate, so e2e tests can watch them.
            extra_env={"PUMP_SCHEDULE_SECONDS": "2"},
        )
    )
    stack.start()
    try:
        # The same demo data as `make run`; its warnings (e.g. a route not written yet) are not fatal.
        seed(stack.api_url, stack.token, stack.session().client("sns"))
        yield LocalStack(stack)
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The session's shared local stack (one per xdist worker)."""
    with running_stack(tmp_path_factory) as stack:
        yield stack


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack of the module's own, for tests whose volume (thousands of stream records) would
    delay every later test's events on the shared one past their deadlines."""
    with running_stack(tmp_path_factory) as stack:
        yield stack
