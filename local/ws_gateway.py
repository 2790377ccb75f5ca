"""A local stand-in for API Gateway's WebSocket API: ``python -m local.ws_gateway --port 8001``.

``chalice local`` ignores websocket routes, so this process plays API Gateway for them:

- accepts WebSocket connections (the ``websockets`` library's asyncio server) and invokes the
  app's ``$connect`` / ``$default`` / ``$disconnect`` handlers — the functions Lambda would run,
  resolved from each handler's ``handler_string`` — with API Gateway-shaped proxy events
  (``requestContext.connectionId``, ``queryStringParameters``, ``body``...). A ``$connect`` reply
  that is not 2xx refuses the upgrade with that status, as API Gateway does;
- serves the ``@connections`` management API on the same port, so the handlers' unchanged
  ``apigatewaymanagementapi`` client (``endpoint_url=WEBSOCKET_MANAGEMENT_URL``) works:
  ``POST /@connections/{id}`` (send; unknown id → 410 ``GoneException``; over 128 KB → 413),
  ``DELETE /@connections/{id}`` (close) and ``GET /@connections/{id}`` (info);
- like API Gateway, closes a connection after 10 minutes idle or 2 hours in total.

Handlers run in worker threads (they call back into this gateway over HTTP). The process needs
the same environment as ``chalice local`` (the ``local`` stage's variables, ``AWS_ENDPOINT_URL``);
variables already set (``local.stack`` sets them) win over the stage's defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import email.utils
import importlib
import json
import logging
import os
import re
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

LambdaHandler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger("ws_gateway")

MAX_POST_BYTES = 128 * 1024  # API Gateway's message payload limit
MAX_HEAD_BYTES = 64 * 1024
IDLE_TIMEOUT_S = 10 * 60
MAX_DURATION_S = 2 * 3600
_MANAGEMENT_PATH = re.compile(r"^(?:/[^/]+)?/@connections/([^/]+)$")


class LambdaContext:
    """The bits of a Lambda context object handlers may read."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self._deadline = time.monotonic() + 30

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left of the 30 s budget."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handlers(app: Any) -> dict[str, LambdaHandler]:
    """``{"$connect": fn, ...}``: what Lambda runs for each of the app's websocket routes."""
    handlers: dict[str, LambdaHandler] = {}
    for route_key, config in app.websocket_handlers.items():
        module_name, _, attribute = config.handler_string.rpartition(".")
        handlers[route_key] = getattr(importlib.import_module(module_name), attribute)
    return handlers


def new_connection_id() -> str:
    """An id shaped like API Gateway's (``L0SM9cOFvHcCIhw=``)."""
    return base64.b64encode(secrets.token_bytes(10)).decode().replace("/", "_").replace("+", "-")


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{int(epoch_s * 1000) % 1000:03d}Z"


@dataclass
class Client:
    """One accepted connection."""

    connection_id: str
    source_ip: str
    user_agent: str
    connected_at: float = field(default_factory=time.time)
    last_active: float = field(default_factory=time.time)
    socket: ServerConnection | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)


class Gateway:
    """The WebSocket API and its ``@connections`` endpoint on one port."""

    def __init__(
        self,
        handlers: dict[str, LambdaHandler],
        host: str = "127.0.0.1",
        port: int = 8001,
        *,
        stage: str = "local",
        api_id: str = "local",
        idle_timeout: float = IDLE_TIMEOUT_S,
        max_duration: float = MAX_DURATION_S,
    ) -> None:
        self.handlers = handlers
        self.host = host
        self.port = port
        self.stage = stage
        self.api_id = api_id
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration
        self.clients: dict[str, Client] = {}
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lambda invocation ------------------------------------------------------------------

    def _request_context(
        self, client: Client, route_key: str, event_type: str, **extra: Any
    ) -> dict[str, Any]:
        now = time.time()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "messageDirection": "IN",
            "extendedRequestId": secrets.token_urlsafe(12),
            "requestTime": email.utils.formatdate(now, usegmt=True),
            "stage": self.stage,
            "connectedAt": int(client.connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": client.source_ip, "userAgent": client.user_agent},
            "requestId": secrets.token_urlsafe(12),
            "domainName": f"{self.host}:{self.port}",
            "connectionId": client.connection_id,
            "apiId": self.api_id,
            **extra,
        }

    async def _invoke(self, route_key: str, event: dict[str, Any]) -> dict[str, Any]:
        """Run the route's handler in a worker thread; a crash is a 500 like a Lambda error."""
        handler = self.handlers.get(route_key)
        if handler is None:
            return {"statusCode": 200}
        try:
            result = await asyncio.to_thread(handler, event, LambdaContext(route_key))
        except Exception:
            log.exception("%s handler raised", route_key)
            return {"statusCode": 500, "body": json.dumps({"message": "Internal server error"})}
        return result if isinstance(result, dict) else {"statusCode": 200}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- websocket side ---------------------------------------------------------------------

    async def on_upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        """``$connect`` before the handshake completes: a non-2xx reply refuses the upgrade."""
        split = urlsplit(request.path)
        multi_query = {k: v for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.raw_items():
            multi_headers.setdefault(name, []).append(value)
        peer = connection.remote_address
        client = Client(
            connection_id=new_connection_id(),
            source_ip=str(peer[0]) if peer else "127.0.0.1",
            user_agent=request.headers.get("User-Agent", ""),
        )
        event = {
            "headers": {k: v[-1] for k, v in multi_headers.items()},
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "requestContext": self._request_context(client, "$connect", "CONNECT"),
            "isBase64Encoded": False,
        }
        # Registered before $connect returns: a frame posted meanwhile waits for the handshake
        # instead of being answered "gone" (which would make the sender delete the connection).
        self.clients[client.connection_id] = client
        result = await self._invoke("$connect", event)
        status = int(result.get("statusCode", 200))
        if not 200 <= status < 300:
            self.clients.pop(client.connection_id, None)
            response = connection.respond(status, str(result.get("body") or HTTPStatus(status).phrase))
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        connection.connection_id = client.connection_id  # type: ignore[attr-defined]
        return None

    async def after_upgrade(self, connection: ServerConnection, request: Request, response: Response) -> None:
        """A handshake that failed after ``$connect`` accepted it still ends in ``$disconnect``."""
        connection_id = getattr(connection, "connection_id", None)
        if response.status_code != HTTPStatus.SWITCHING_PROTOCOLS and connection_id:
            client = self.clients.pop(connection_id, None)
            if client is not None:
                self._spawn(self._disconnected(client, 1006, "handshake failed"))

    async def on_socket(self, connection: ServerConnection) -> None:
        """An open socket: every frame invokes ``$default``; the end invokes ``$disconnect``."""
        connection_id: str = connection.connection_id  # type: ignore[attr-defined]
        client = self.clients[connection_id]
        client.socket = connection
        client.opened.set()
        try:
            async for message in connection:
                client.last_active = time.time()
                is_binary = isinstance(message, bytes)
                body = base64.b64encode(message).decode() if isinstance(message, bytes) else message
                event = {
                    "requestContext": self._request_context(
                        client, "$default", "MESSAGE", messageId=secrets.token_urlsafe(12)
                    ),
                    "body": body,
                    "isBase64Encoded": is_binary,
                }
                # Like Lambda, messages are handled concurrently (no ordering guarantee).
                self._spawn(self._invoke("$default", event))
        except ConnectionClosed:
            pass
        finally:
            self.clients.pop(connection_id, None)
            await self._disconnected(client, connection.close_code or 1006, connection.close_reason or "")

    async def _disconnected(self, client: Client, code: int, reason: str) -> None:
        event = {
            "headers": {"Host": f"{self.host}:{self.port}"},
            "requestContext": self._request_context(
                client, "$disconnect", "DISCONNECT", disconnectStatusCode=code, disconnectReason=reason
            ),
            "isBase64Encoded": False,
        }
        await self._invoke("$disconnect", event)

    async def _sweep(self) -> None:
        """Close sockets idle for 10 minutes or open for 2 hours (API Gateway's limits)."""
        while True:
            await asyncio.sleep(min(5.0, self.idle_timeout / 2))
            now = time.time()
            for client in list(self.clients.values()):
                expired = now - client.connected_at > self.max_duration
                idle = now - client.last_active > self.idle_timeout
                if client.socket is not None and (expired or idle):
                    self._spawn(client.socket.close(1001, "Going away"))

    # -- @connections management API --------------------------------------------------------

    async def manage(self, method: str, target: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """One ``@connections`` request → ``(status, headers, body)``."""
        match = _MANAGEMENT_PATH.match(urlsplit(target).path)
        if match is None:
            return _error(404, "NotFoundException", "No such resource.")
        client = self.clients.get(unquote(match.group(1)))
        if client is None:
            return _error(410, "GoneException", "The connection is gone.")
        if method == "GET":
            info = {
                "connectedAt": _iso(client.connected_at),
                "identity": {"sourceIp": client.source_ip, "userAgent": client.user_agent},
                "lastActiveAt": _iso(client.last_active),
            }
            return 200, {"Content-Type": "application/json"}, json.dumps(info).encode()
        if method not in ("POST", "DELETE"):
            return _error(405, "MethodNotAllowedException", f"{method} is not supported.")
        try:
            await asyncio.wait_for(client.opened.wait(), timeout=5)
        except TimeoutError:
            return _error(410, "GoneException", "The connection is gone.")
        assert client.socket is not None
        if method == "DELETE":
            self._spawn(client.socket.close(1000, ""))
            return 204, {}, b""
        if len(body) > MAX_POST_BYTES:
            return _error(413, "PayloadTooLargeException", "Message too long.")
        try:
            try:
                await client.socket.send(body.decode("utf-8"))
            except UnicodeDecodeError:
                await client.socket.send(body)
        except ConnectionClosed:
            return _error(410, "GoneException", "The connection is gone.")
        return 200, {}, b""

    # -- lifecycle --------------------------------------------------------------------------

    def _connection_class(self) -> type[ServerConnection]:
        return type("GatewayConnection", (_SplitConnection,), {"gateway": self})

    async def start(self) -> Server:
        """Listen (``port=0`` picks a free port, stored back in ``self.port``)."""
        self._server = await serve(
            self.on_socket,
            self.host,
            self.port,
            process_request=self.on_upgrade,
            process_response=self.after_upgrade,
            create_connection=self._connection_class(),
            compression=None,
            max_size=MAX_POST_BYTES,
            ping_interval=None,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._spawn(self._sweep())
        return self._server

    async def stop(self) -> None:
        """Close every socket (each gets its ``$disconnect``) and stop listening."""
        if self._server is not None:
            self._server.close(close_connections=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
        for task in list(self._tasks):
            task.cancel()

    @property
    def url(self) -> str:
        """The ``ws://`` URL clients connect to."""
        return f"ws://{self.host}:{self.port}"

    @property
    def management_url(self) -> str:
        """What ``WEBSOCKET_MANAGEMENT_URL`` must be for the handlers to reach this gateway."""
        return f"http://{self.host}:{self.port}"


def _error(status: int, error_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}
    return status, headers, json.dumps({"message": message}).encode()


class _SplitConnection(ServerConnection):
    """A ``websockets`` connection that first looks at the request head: upgrade requests go to
    the WebSocket protocol unchanged; anything else is a ``@connections`` HTTP request, answered
    by :meth:`Gateway.manage` (``websockets`` refuses request bodies, which ``POST`` needs)."""

    gateway: Gateway  # set on the per-gateway subclass

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mode = "sniff"  # → "ws" or "http"
        self._buffer = bytearray()
        self._request: tuple[str, str, int] | None = None
        self._answering = False

    def data_received(self, data: bytes) -> None:
        """Route the bytes: WebSocket protocol, or our HTTP handling."""
        if self._mode == "ws":
            super().data_received(data)
            return
        self._buffer += data
        if self._mode == "sniff":
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    self._answer(*_error(431, "BadRequestException", "Request head too large."))
                return
            lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "websocket" in headers.get("upgrade", "").lower():
                self._mode = "ws"
                buffered = bytes(self._buffer)
                self._buffer.clear()
                super().data_received(buffered)
                return
            self._mode = "http"
            parts = lines[0].split(" ")
            declared = headers.get("content-length", "0")
            if len(parts) != 3 or not declared.isdigit():
                self._answer(*_error(400, "BadRequestException", "Malformed request."))
                return
            self._request = (parts[0].upper(), parts[1], int(declared))
            del self._buffer[: end + 4]
        if self._request is not None and not self._answering:
            method, target, length = self._request
            if length > MAX_POST_BYTES + 1024:
                self._answer(*_error(413, "PayloadTooLargeException", "Message too long."))
            elif len(self._buffer) >= length:
                self._answering = True
                body = bytes(self._buffer[:length])
                self.gateway._spawn(self._serve(method, target, body))

    async def _serve(self, method: str, target: str, body: bytes) -> None:
        try:
            status, headers, payload = await self.gateway.manage(method, target, body)
        except Exception:
            log.exception("management request failed")
            status, headers, payload = _error(500, "InternalServerErrorException", "Internal error.")
        self._answer(status, headers, payload)

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self._answering = True
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
        all_headers = {
            **headers,
            "Content-Length": str(len(body)),
            "Connection": "close",
            "x-amzn-RequestId": str(uuid.uuid4()),
        }
        lines += [f"{k}: {v}" for k, v in all_headers.items()]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.transport.close()

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """WebSocket EOF as usual; a half-closed HTTP client still gets its answer."""
        if self._mode == "ws":
            super().eof_received()
            return None
        return True


# --- running it ----------------------------------------------------------------------------


def apply_environment(overrides: dict[str, str]) -> None:
    """The ``local`` stage's variables where the process has none, then ``overrides``."""
    from local.stack import stage_environment

    for key, value in stage_environment().items():
        os.environ.setdefault(key, value)
    os.environ.update(overrides)


async def run(host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM."""
    from app import app

    gateway = Gateway(load_handlers(app), host, port)
    await gateway.start()
    print(f"WebSocket gateway on {gateway.url} (management API {gateway.management_url})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await gateway.stop()


@contextlib.contextmanager
def background_gateway(
    handlers: dict[str, LambdaHandler], host: str = "127.0.0.1", port: int = 0
) -> Iterator[Gateway]:
    """A gateway on its own event loop in a daemon thread (tests, benchmarks)."""
    loop = asyncio.new_event_loop()
    gateway = Gateway(handlers, host, port)
    thread = threading.Thread(target=loop.run_forever, name="ws-gateway", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(gateway.start(), loop).result(timeout=10)
    try:
        yield gateway
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(gateway.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)


def main() -> None:
    """``python -m local.ws_gateway [--host H] [--port P] [--env K=V ...]``."""
    from local.stack import parse_env_args

    parser = argparse.ArgumentParser(description="Local API Gateway WebSocket stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("WS_PORT", "8001")))
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    apply_environment(parse_env_args(args.env))
    asyncio.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
