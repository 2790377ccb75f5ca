"""moto server that runs ONE request at a time.

moto's backends have no locking: under concurrent requests a conditional write can succeed
twice and a cancelled transaction restores a stale copy of the table. Real DynamoDB is
linearisable per item, so the local endpoint serialises requests behind one lock (the body is
materialised inside the lock, so nothing of a request runs outside it).

In front of the lock, ``local.strict_aws`` enforces the limits moto ignores (SNS/SQS 256 KiB,
PublishBatch 10 entries, TransactWriteItems 4 MB) with AWS's error codes, and injects the
faults posted to ``/_local/faults`` (tests and the bench use them).

``python -m local.moto_server --port 4566``
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerialisedApp:
    """WSGI middleware: one request at a time through the wrapped app."""

    def __init__(self, app: WSGIApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """Handle one request while holding the lock."""
        with self._lock:
            result = self._app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


class QuietSuccessFilter(logging.Filter):
    """Drops werkzeug's access-log lines of successful requests: the event pump polls moto
    several times a second, which otherwise writes ~1.5 MB of log an hour. Failures (4xx: a
    refused condition, a missing resource; 5xx) are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a 1xx-3xx access-log record (werkzeug logs ``'"%s" %s %s'`` with
        (request line, status, size))."""
        args = record.args if isinstance(record.args, tuple) else ()
        status = str(args[1]) if len(args) == 3 else ""
        return not (len(status) == 3 and status.isdigit() and status[0] in "123")


def build_app() -> WSGIApp:
    """moto's full multi-service WSGI app, serialised, behind AWS's limits and the fault rules
    (``local.strict_aws``: refused requests never take the lock)."""
    from moto.server import DomainDispatcherApplication, create_backend_app

    from local.strict_aws import StrictAwsApp

    return StrictAwsApp(SerialisedApp(DomainDispatcherApplication(create_backend_app)))


def main() -> None:
    """Serve the serialised moto app (threaded accept, serial execution)."""
    from moto.server import MotoRequestHandler
    from werkzeug.serving import run_simple

    from local.motofix import patch_permanently

    # Behind the lock, moto's per-action whole-table copies in TransactWriteItems can be one copy.
    patch_permanently()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--log-all", action="store_true", help="log successful requests too")
    args = parser.parse_args()
    if not args.log_all:
        logging.getLogger("werkzeug").addFilter(QuietSuccessFilter())
    os.environ.setdefault("MOTO_PORT", str(args.port))
    run_simple(args.host, args.port, build_app(), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
