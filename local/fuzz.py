"""``make fuzz``: schemathesis against the local stack, over every operation of the spec.

Without ``--url`` it starts its own stack (the same startup code as ``make run`` and the e2e
fixture: serialised moto, infra, ``chalice local``, the event pump) on free ports, seeds the demo
data, fuzzes, and stops everything. With ``--url`` it fuzzes an API that is already running
(e.g. ``make run``; note that fuzzing changes the fuzzing user's data there).

Requests are authenticated with a local token for ``--user`` (``Authorization: Bearer ...``).
Every schemathesis check runs (its defaults: no 5xx, status codes, content types, headers and
response bodies conform to the spec, invalid data rejected, valid data accepted, auth
enforced...). The exit code is schemathesis's: 0 when nothing failed.

This module is also the schemathesis hooks module (``SCHEMATHESIS_HOOKS=local.fuzz``): the
hooks keep generated values the server can never accept out of *positive* cases (an opaque
cursor cannot be generated from its schema: it is HMAC-signed), and put full-Unicode text
(hypothesis ``text()``: other scripts, Unicode digits such as "²", combining marks, format
characters...) into a query, path or header value of about half the cases — schemathesis then
judges the case again against the spec, so a value the spec forbids expects a 4xx and one it
allows expects acceptance; a 5xx always fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_USER = "fuzz-alice"
HOOKS_MODULE = "local.fuzz"
CONFIG_FILE = ROOT / "local" / "schemathesis.toml"
FUZZ_USER_ENV = "SOCIALVIDEO_FUZZ_USER"
WEBHOOK_SECRET_ENV = "SOCIALVIDEO_FUZZ_WEBHOOK_SECRET"  # noqa: S105 - a variable name
WEBHOOK_PATH = "/v1/payments/webhook"


@dataclass(frozen=True)
class FuzzSettings:
    """One schemathesis run."""

    api_url: str
    token: str
    user: str = DEFAULT_USER
    max_examples: int = 25
    seed: int | None = 20261128
    workers: int = 1
    phases: str = "examples,coverage,fuzzing"
    max_failures: int | None = None
    report_dir: Path | None = None
    request_timeout: float = 20.0
    # Where the spec is read (default: the API's own ``/v1/openapi.json``).
    schema: str | None = None


def command(settings: FuzzSettings) -> list[str]:
    """The schemathesis CLI invocation for ``settings``."""
    args = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG_FILE),
        "run",
        settings.schema or f"{settings.api_url}/v1/openapi.json",
        "--url",
        settings.api_url,
        "--header",
        f"Authorization: Bearer {settings.token}",
        "--max-examples",
        str(settings.max_examples),
        "--workers",
        str(settings.workers),
        "--phases",
        settings.phases,
        "--request-timeout",
        str(settings.request_timeout),
        "--suppress-health-check",
        "all",
        "--output-truncate",
        "false",
        "--warnings",
        "off",
    ]
    if settings.seed is not None:
        args += ["--seed", str(settings.seed)]
    if settings.max_failures is not None:
        args += ["--max-failures", str(settings.max_failures)]
    if settings.report_dir is not None:
        args += ["--report", "junit,ndjson", "--report-dir", str(settings.report_dir)]
    return args


def run_schemathesis(settings: FuzzSettings, *, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run schemathesis (a child process, with this module as its hooks) and return its result."""
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": HOOKS_MODULE,
        FUZZ_USER_ENV: settings.user,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "NO_COLOR": "1",
        "COLUMNS": "160",
    }
    return subprocess.run(
        command(settings),
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=capture,
        check=False,
    )


# --- schemathesis hooks ------------------------------------------------------------------------


def _register_hooks() -> None:
    """Register the hooks when schemathesis imports this module (``SCHEMATHESIS_HOOKS``)."""
    import schemathesis

    @schemathesis.hook
    def map_case(ctx: Any, case: Any) -> Any:
        """Make *positive* cases valid where validity depends on who calls or on a secret."""
        if not _is_positive(case):
            return case
        user = os.environ.get(FUZZ_USER_ENV, "")
        if case.query and "cursor" in case.query:
            # A generated cursor is never a signed one (400 invalid_cursor by design).
            case.query = {k: v for k, v in case.query.items() if k != "cursor"}
        if user:
            # "Not yourself" rules (following, blocking, reporting yourself → 400) are documented
            # but cannot be written in a schema that does not know the caller.
            case.path_parameters = _not_self(case.path_parameters, user)
            case.body = _not_self(case.body, user)
        if case.operation.path == WEBHOOK_PATH and isinstance(case.body, dict):
            case.headers = {**(case.headers or {}), "Stripe-Signature": _webhook_signature(case.body)}
        return case

    @schemathesis.hook
    def flatmap_case(ctx: Any, case: Any) -> Any:
        """About half the cases get one query, path or header value drawn from full Unicode."""
        from hypothesis import strategies as st

        targets = st.sampled_from([None, None, None, *UNICODE_TARGETS])
        return st.builds(
            lambda target, pick, text: with_unicode_value(case, target, pick, text),
            targets,
            st.integers(min_value=0, max_value=7),
            _unicode_text(),
        )


# Where full-Unicode values go (Case attribute → OpenAPI ``in``).
UNICODE_TARGETS = {"query": "query", "path_parameters": "path", "headers": "header"}


def _unicode_text() -> Any:
    """Any Unicode text a client can send in a URL or header: no surrogates (not encodable),
    no CR/LF/NUL (HTTP clients refuse them), no surrounding whitespace (servers strip it)."""
    from hypothesis import strategies as st

    characters = st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00")
    return st.text(characters, min_size=1, max_size=24).filter(lambda v: v == v.strip())


def _declared(case: Any, location: str) -> list[str]:
    """Names of the operation's parameters in ``location`` (``query``, ``path``, ``header``)."""
    names = []
    for parameter in case.operation.iter_parameters():
        where = getattr(parameter.location, "value", parameter.location)
        if where == location and parameter.name.lower() != "content-type":
            names.append(parameter.name)
    return sorted(names)


def with_unicode_value(case: Any, target: str | None, pick: int, text: str) -> Any:
    """``case`` with one declared ``target`` parameter (``query``, ``path_parameters`` or
    ``headers``; ``None``: unchanged) set to ``text``. A header carries the text's UTF-8 bytes,
    as a client sending raw UTF-8 does (the server reads header bytes as Latin-1)."""
    if target is None or case.operation.path == WEBHOOK_PATH:
        return case  # the payment webhook's signature rules are fuzzed by its own tests
    names = _declared(case, UNICODE_TARGETS[target])
    if not names:
        return case
    name = names[pick % len(names)]
    if target == "path_parameters":
        # "/", "?" and "#" would change the URL's structure rather than the value (schemathesis
        # sends them raw); "." and ".." are dot segments.
        text = "".join(c for c in text if c not in "/?#")
        if text in ("", ".", ".."):
            return case
    if name == "cursor" and text.isascii():
        return case  # schema-valid yet never a signed cursor: not a positive case anyone can pass
    value = text.encode("utf-8").decode("latin-1") if target == "headers" else text
    container = getattr(case, target) or {}
    if target == "headers":
        updated = type(container)(container) if container else {}
        updated[name] = value
    else:
        updated = {**container, name: value}
    setattr(case, target, updated)  # schemathesis re-judges the case (positive or negative)
    return case


def _is_positive(case: Any) -> bool:
    """True unless the case is a negative one (invalid on purpose)."""
    meta = getattr(case, "meta", None)
    if meta is None:
        return True
    return bool(meta.generation.mode.is_positive)


def _not_self(value: Any, user: str) -> Any:
    """``value`` with every string equal to ``user`` replaced by another user id."""
    if isinstance(value, str):
        return f"{user}-peer" if value == user else value
    if isinstance(value, dict):
        return {k: _not_self(v, user) for k, v in value.items()}
    if isinstance(value, list):
        return [_not_self(v, user) for v in value]
    return value


def _webhook_signature(body: dict[str, Any]) -> str:
    """A valid ``Stripe-Signature`` for ``body`` as the HTTP client will serialise it."""
    import json
    import time

    from chalicelib.checkout.webhooks import sign

    secret = (os.environ.get(WEBHOOK_SECRET_ENV) or _stage_webhook_secret()).split(",")[0].strip()
    raw = json.dumps(body, allow_nan=False).encode()  # what `requests` sends for `json=body`
    return sign(secret, int(time.time()), raw)


def _stage_webhook_secret() -> str:
    from local.stack import stage_environment

    return stage_environment().get("PAYMENT_WEBHOOK_SECRET", "")


if os.environ.get("SCHEMATHESIS_HOOKS") == HOOKS_MODULE:
    _register_hooks()


# --- the CLI -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m local.fuzz [--url URL] [--max-examples N] [--seed S] [--user USER]``."""
    parser = argparse.ArgumentParser(description="Fuzz the API with schemathesis against the local stack.")
    parser.add_argument("--url", help="an API already running (default: start a local stack)")
    parser.add_argument("--user", default=DEFAULT_USER, help="whose token authenticates the requests")
    parser.add_argument("--token", help="a bearer token to use instead of minting one for --user")
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None, help="fixed seed (default: random)")
    # More than one worker runs schemathesis in threads, which can trip CPython 3.11's AST
    # recursion-depth race (python/cpython#106905): opt in knowingly.
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--phases", default="examples,coverage,fuzzing")
    parser.add_argument("--report-dir", type=Path, default=ROOT / ".local" / "fuzz-report")
    args = parser.parse_args(argv)

    def fuzz(api_url: str, token: str) -> int:
        settings = FuzzSettings(
            api_url=api_url,
            token=token,
            user=args.user,
            max_examples=args.max_examples,
            seed=args.seed,
            workers=args.workers,
            phases=args.phases,
            report_dir=args.report_dir,
        )
        print(f"fuzzing {api_url} as {args.user} (report in {args.report_dir})", flush=True)
        return run_schemathesis(settings).returncode

    if args.url:
        token = args.token
        if token is None:
            from local.tokens import ensure_keypair, mint_token

            private_path, _ = ensure_keypair(ROOT / ".local")
            token = mint_token(private_path.read_bytes(), args.user)
        return fuzz(args.url.rstrip("/"), token)

    from local.seed import seed
    from local.stack import Stack, StackSettings

    with tempfile.TemporaryDirectory(prefix="socialvideo-fuzz-") as tmp:
        stack = Stack(StackSettings.on_free_ports(Path(tmp)))
        print("starting the local stack...", flush=True)
        stack.start()
        try:
            for warning in seed(stack.api_url, stack.token, stack.session().client("sns")):
                print(f"seed: {warning}", flush=True)
            return fuzz(stack.api_url, args.token or stack.token(args.user))
        finally:
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
