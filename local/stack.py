"""Start and stop the local stack: serialised moto, infra, the API, the event pump, the
WebSocket gateway. Shared by ``make run`` (``local.run``) and the end-to-end test fixture.

Every child runs in its own process group (so ``stop()`` also ends grandchildren) and logs to
``<log_dir>/<name>.log``.

The API is served by ``python -m local.stack api``, which does exactly what
``chalice local --stage local --no-autoreload`` does (load the stage's config, apply its
environment, serve the app) and then re-applies ``--env`` overrides. Chalice lets the stage
environment win over the process environment, so without this step a stack on non-default
ports (``make run PORT=...``, the e2e fixture) would point at the wrong WebSocket, snapshot
and JWKS locations.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".chalice" / "config.json"
STAGE = "local"
REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def stage_environment(stage: str = STAGE, config_path: Path = CONFIG) -> dict[str, str]:
    """The environment Chalice gives the functions of ``stage`` (top level, then stage values)."""
    config = json.loads(config_path.read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config.get("stages", {}).get(stage, {}).get("environment_variables", {}))
    return {k: str(v) for k, v in env.items()}


def apply_stage_environment(overrides: Mapping[str, str], stage: str = STAGE) -> None:
    """Apply the stage environment to this process like Chalice does, then ``overrides``."""
    os.environ.update(stage_environment(stage))
    os.environ.update(overrides)


def parse_env_args(pairs: list[str]) -> dict[str, str]:
    """``["K=V", ...]`` → ``{"K": "V"}``."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def env_args(overrides: Mapping[str, str]) -> list[str]:
    """``{"K": "V"}`` → ``["--env", "K=V", ...]`` for the API server and the pump."""
    args: list[str] = []
    for key, value in sorted(overrides.items()):
        args += ["--env", f"{key}={value}"]
    return args


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class EndpointSession:
    """A boto3 session whose clients all talk to one endpoint (moto) with fake credentials.

    Explicit ``endpoint_url`` instead of ``AWS_ENDPOINT_URL`` in ``os.environ``: the e2e fixture
    shares its process with integration tests that must keep using ``mock_aws``.
    """

    def __init__(self, endpoint_url: str, region: str = REGION) -> None:
        import boto3

        self.endpoint_url = endpoint_url
        self.region_name = region
        self._session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
            region_name=region,
        )

    def client(self, service: str, **kwargs: Any) -> Any:
        """A client for ``service`` at the endpoint."""
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        return self._session.client(service, **kwargs)


class StackError(RuntimeError):
    """A process of the stack did not start."""


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_http(url: str, timeout: float, expect_status: int | None = None) -> None:
    """Block until ``url`` answers (with ``expect_status`` when given)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if expect_status is None or response.status == expect_status:
                    return
        except urllib.error.HTTPError as err:
            if expect_status is None:
                return
            last: Exception = err
        except OSError as err:
            last = err
        if time.monotonic() > deadline:
            raise StackError(f"{url} did not answer within {timeout:.0f} s ({last})")
        time.sleep(0.05)


@dataclass
class StackSettings:
    """Where the stack listens and keeps its files."""

    port: int = 8000
    ws_port: int = 8001
    moto_port: int = 4566
    host: str = "127.0.0.1"
    # An existing AWS endpoint to use instead of starting moto (``AWS_ENDPOINT_URL``).
    endpoint_url: str | None = None
    state_dir: Path = ROOT / ".local"
    # Extra environment for every child (e.g. ``PUMP_SCHEDULE_SECONDS`` in tests).
    extra_env: dict[str, str] = field(default_factory=dict)
    # The module serving moto (``bench.moto_server`` adds slow-request logging).
    moto_module: str = "local.moto_server"
    # How long moto may take to answer its first request.
    moto_timeout_s: float = 20.0

    @classmethod
    def on_free_ports(cls, state_dir: Path, **kwargs: Any) -> StackSettings:
        """Settings for a throwaway stack: free API, WebSocket and moto ports, files in
        ``state_dir``; ``kwargs`` set the other fields."""
        return cls(
            port=free_port(), ws_port=free_port(), moto_port=free_port(), state_dir=state_dir, **kwargs
        )


@dataclass
class Stack:
    """A running (or not yet started) local stack."""

    settings: StackSettings
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://{self.settings.host}:{self.settings.port}"

    @property
    def ws_url(self) -> str:
        """URL of the WebSocket gateway."""
        return f"ws://{self.settings.host}:{self.settings.ws_port}"

    @property
    def moto_url(self) -> str:
        """The AWS endpoint the stack uses."""
        return self.settings.endpoint_url or f"http://{self.settings.host}:{self.settings.moto_port}"

    @property
    def log_dir(self) -> Path:
        """Where each child's ``<name>.log`` goes."""
        return self.settings.state_dir / "logs"

    @property
    def private_key_path(self) -> Path:
        """The PEM that signs local tokens."""
        return self.settings.state_dir / "private.pem"

    def session(self) -> EndpointSession:
        """A boto3 session factory pointed at the stack's AWS endpoint."""
        return EndpointSession(self.moto_url)

    def token(self, user_id: str) -> str:
        """A bearer token for ``user_id`` that the stack accepts."""
        from local.tokens import mint_token

        return mint_token(self.private_key_path.read_bytes(), user_id)

    # -- lifecycle -------------------------------------------------------------------------

    def child_environment(self) -> dict[str, str]:
        """The environment every child starts with (stage env + endpoint + overrides)."""
        env = dict(os.environ)
        env.update(stage_environment())
        env.update(FAKE_CREDENTIALS)
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
        env["AWS_ENDPOINT_URL"] = self.moto_url
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.overrides)
        env.update(self.settings.extra_env)
        return env

    def _spawn(
        self, name: str, args: list[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**self.child_environment(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() reaches grandchildren too
        )
        self.processes[name] = proc
        return proc

    def _check_alive(self, name: str) -> None:
        proc = self.processes[name]
        if proc.poll() is not None:
            raise StackError(
                f"{name} exited with {proc.returncode}; last lines of {self.log_dir / (name + '.log')}:\n"
                + _tail(self.log_dir / f"{name}.log")
            )

    def start(self) -> Stack:
        """Start every process, deploy the infra and wait until the API is healthy."""
        from local.infra import deploy_all
        from local.tokens import ensure_keypair

        started = time.perf_counter()
        s = self.settings
        try:
            if s.endpoint_url is None:
                if port_in_use(s.host, s.moto_port):
                    raise StackError(f"port {s.moto_port} is taken (set MOTO_PORT or AWS_ENDPOINT_URL)")
                # MOTO_PORT: the port moto writes into the URLs it hands out (queue URLs...); the
                # inherited environment may name another moto's port.
                self._spawn("moto", [sys.executable, "-m", s.moto_module, "--host", s.host,
                                     "--port", str(s.moto_port)],
                            env={"MOTO_PORT": str(s.moto_port)})  # fmt: skip
                wait_http(f"{self.moto_url}/moto-api/data.json", timeout=s.moto_timeout_s)
                self._check_alive("moto")

            _, jwks_path = ensure_keypair(s.state_dir)
            self.outputs = deploy_all(self.session(), stage=STAGE)
            self.overrides = {
                **{k: v for k, v in self.outputs.items() if v},
                "AUTH_JWKS_FILE": str(jwks_path.resolve()),
                "WEBSOCKET_URL": self.ws_url,
                "WEBSOCKET_MANAGEMENT_URL": f"http://{s.host}:{s.ws_port}",
                "SNAPSHOT_BASE_URL": f"{self.moto_url}/{self.outputs['MEDIA_BUCKET']}",
            }

            # `make dlq` / `make redrive` (local.dlq) find the running stack's endpoint and settings here.
            s.state_dir.mkdir(parents=True, exist_ok=True)
            (s.state_dir / "stack-env.json").write_text(
                json.dumps({"AWS_ENDPOINT_URL": self.moto_url, **self.overrides}, indent=1)
            )
            for port in (s.port, s.ws_port):
                if port_in_use(s.host, port):
                    raise StackError(f"port {port} is taken (set PORT / WS_PORT)")
            extra = env_args(self.overrides)
            self._spawn("api", [sys.executable, "-m", "local.stack", "api", "--host", s.host,
                                "--port", str(s.port), *extra])  # fmt: skip
            pump_ready = self.log_dir / "pump.ready"
            pump_ready.unlink(missing_ok=True)
            self._spawn("pump", [sys.executable, "-m", "local.pump", "--ready-file", str(pump_ready), *extra])
            self._spawn("ws_gateway", [sys.executable, "-m", "local.ws_gateway", "--port", str(s.ws_port)])
            deadline = time.monotonic() + 60
            while True:
                for name in self.processes:
                    self._check_alive(name)
                try:
                    wait_http(f"{self.api_url}/v1/health", timeout=0.5, expect_status=200)
                    if pump_ready.exists():
                        break
                except StackError:
                    pass
                if time.monotonic() > deadline:
                    raise StackError(f"the stack was not ready within 60 s; see {self.log_dir}/*.log")
                time.sleep(0.05)
            self.timings["ready_s"] = time.perf_counter() - started
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process this stack started (whole process groups), newest first."""
        for proc in reversed(list(self.processes.values())):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in reversed(list(self.processes.values())):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            # Reap anything left in the group (e.g. a worker that ignored SIGTERM).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.processes.clear()
        if self.settings.endpoint_url is None:
            # Its moto is gone: `make dlq` must not talk to a stale endpoint.
            (self.settings.state_dir / "stack-env.json").unlink(missing_ok=True)
        for log in self._logs:
            log.close()
        self._logs.clear()


def serve_api(host: str, port: int, stage: str, overrides: Mapping[str, str]) -> None:
    """``chalice local --no-autoreload`` for ``stage``, with ``overrides`` applied last."""
    import logging

    from chalice import local as chalice_local
    from chalice.cli import create_local_server
    from chalice.cli.factory import CLIFactory

    # API Gateway absorbs bursts; the dev server's default listen backlog (5) resets connections
    # in a flash sale's burst of taps, which is a property of the stand-in, not of the API.
    chalice_local.ThreadedHTTPServer.request_queue_size = 128
    # API Gateway keeps ";" in a path segment; Chalice's route matcher used urlparse, which cuts
    # ";params" off the last segment (``/v1/me/devices/;`` reached another route, 405). urlsplit
    # keeps the path whole, as API Gateway does.
    chalice_local.urlparse = urllib.parse.urlsplit  # type: ignore[assignment]
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"  # what the chalice CLI sets before loading the app
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    factory = CLIFactory(str(ROOT), environ=os.environ)
    server = create_local_server(factory, host, port, stage)
    # The app is loaded and the stage environment applied; settings are read lazily on the
    # first request, so the overrides below are what the functions see.
    os.environ.update(overrides)
    server.serve_forever()


def main() -> None:
    """``python -m local.stack api --host H --port P [--env K=V ...]``."""
    parser = argparse.ArgumentParser(description="Serve the Chalice app like `chalice local`.")
    parser.add_argument("command", choices=["api"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default=STAGE)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    serve_api(args.host, args.port, args.stage, parse_env_args(args.env))


if __name__ == "__main__":
    main()
