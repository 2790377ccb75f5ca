"""``make run``: the whole backend on this machine, in the foreground until Ctrl-C.

Starts the serialised moto server (unless ``AWS_ENDPOINT_URL`` names an endpoint to use),
deploys ``infra/template.yaml`` into it, creates the local signing key pair in ``.local/``,
serves the API like ``chalice local``, runs the event pump and the WebSocket gateway, seeds the
demo data and prints how to call the API. Ctrl-C or SIGTERM stops every process it started.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from local.seed import USERS, seed
from local.stack import ROOT, Stack, StackError, StackSettings


def banner(stack: Stack, warnings: list[str]) -> str:
    """What a developer needs to start calling the API."""
    log_dir = stack.log_dir.relative_to(ROOT) if stack.log_dir.is_relative_to(ROOT) else stack.log_dir
    lines = [
        "",
        "socialvideo is running",
        f"  API        {stack.api_url}      (try: curl {stack.api_url}/v1/health)",
        f"  WebSocket  {stack.ws_url}",
        f"  AWS (moto) {stack.moto_url}",
        f"  Logs       {log_dir}/*.log (api, pump, moto, ws_gateway)",
        f"  Demo users {', '.join(USERS)}",
        "",
        "Get a token and call an endpoint:",
        "  TOKEN=$(make -s token USER=demo-alice)",
        f'  curl -H "Authorization: Bearer $TOKEN" {stack.api_url}/v1/me',
        "",
        f"Started in {stack.timings.get('ready_s', 0):.1f} s. Ctrl-C stops everything.",
    ]
    lines += [f"  warning: {w}" for w in warnings]
    return "\n".join(lines)


def main() -> None:
    """Start the stack, seed it, wait for Ctrl-C/SIGTERM, stop it."""
    parser = argparse.ArgumentParser(description="Run the socialvideo backend locally.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--ws-port", type=int, default=8001)
    parser.add_argument("--moto-port", type=int, default=4566)
    parser.add_argument("--no-seed", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    os.chdir(ROOT)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    stack = Stack(
        StackSettings(
            port=args.port,
            ws_port=args.ws_port,
            moto_port=args.moto_port,
            endpoint_url=endpoint,
            state_dir=Path(ROOT / ".local"),
        )
    )
    print(
        f"Starting: {'AWS endpoint ' + endpoint if endpoint else f'moto on :{args.moto_port}'}, "
        f"API on :{args.port}, WebSocket on :{args.ws_port} (logs in .local/logs/)",
        flush=True,
    )
    try:
        stack.start()
        warnings: list[str] = []
        if not args.no_seed:
            warnings = seed(stack.api_url, stack.token, stack.session().client("sns"))
        print(banner(stack, warnings), flush=True)
        while not stop.is_set():
            for name, proc in stack.processes.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}: see {stack.log_dir / name}.log", flush=True)
                    stop.set()
            stop.wait(0.5)
    except StackError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        stack.stop()
        sys.exit(1)
    finally:
        started = time.perf_counter()
        stack.stop()
        print(f"Stopped every process ({time.perf_counter() - started:.1f} s).", flush=True)


if __name__ == "__main__":
    main()
