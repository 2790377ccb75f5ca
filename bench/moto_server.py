"""``python -m bench.moto_server --port P``: the stack's serialised moto server
(``local.moto_server``: one request at a time) with :mod:`local.motofix` applied, logging
every request that held the lock for longer than ``BENCH_MOTO_SLOW_MS`` (default 250 ms)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any


def _target(environ: dict[str, Any]) -> str:
    return str(environ.get("HTTP_X_AMZ_TARGET") or environ.get("PATH_INFO", ""))


class _Timed:
    """WSGI middleware INSIDE the lock: reports requests whose service time was slow."""

    def __init__(self, app: Callable[..., Iterable[bytes]], slow_ms: float) -> None:
        self._app = app
        self._slow_ms = slow_ms

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started = time.perf_counter()
        result = list(self._app(environ, start_response))
        ms = (time.perf_counter() - started) * 1000
        if ms > self._slow_ms:
            print(f"slow moto request: {ms:.0f} ms service {_target(environ)}", file=sys.stderr, flush=True)
        return result


def main() -> None:
    """Serve exactly like ``local.moto_server`` (which applies the transaction fix), timing requests."""
    from moto.server import DomainDispatcherApplication, create_backend_app

    from local import moto_server
    from local.strict_aws import StrictAwsApp

    slow_ms = float(os.environ.get("BENCH_MOTO_SLOW_MS", "250"))

    def build_app() -> Any:
        timed = _Timed(DomainDispatcherApplication(create_backend_app), slow_ms)
        return StrictAwsApp(moto_server.SerialisedApp(timed))

    moto_server.build_app = build_app
    moto_server.main()


if __name__ == "__main__":
    main()
