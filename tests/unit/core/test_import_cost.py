"""Cold start (issue 11): ``import app`` registers every route and event handler without importing
the heavy libraries the handlers use (pydantic, boto3/botocore clients, PyJWT, cryptography,
Stripe, YAML) — those load inside the handlers, on first use.

A deterministic guard, not a timing test: it runs in a fresh interpreter so nothing the test
session already imported can hide a regression.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]

# Top-level packages that must not be imported by ``import app`` (nor any of their submodules).
HEAVY = ("pydantic", "pydantic_core", "boto3", "jwt", "cryptography", "stripe", "yaml", "phonenumbers")
# ``aws_lambda_powertools`` (the logger) runs ``import botocore`` in its package ``__init__`` to
# register a user-agent hook: that bare package is cheap and tolerated; botocore's sessions,
# clients and the rest are what ``import boto3`` pays for, and must not load.
BOTOCORE_ALLOWED = frozenset({"botocore"})
# Core modules that pull pydantic or boto3 and so must load lazily, like the domains' internals.
HEAVY_CORE = frozenset(
    {
        "chalicelib.core.models",
        "chalicelib.core.domain_events",
        "chalicelib.core.clients",
    }
)

_PROBE = """
import json, sys
import app
a = app.app
print(json.dumps({
    "modules": sorted(sys.modules),
    "routes": {path: sorted(methods) for path, methods in a.routes.items()},
    "handlers": sorted(a.handler_map),
    "event_sources": sorted([type(s).__name__, s.name] for s in a.event_sources),
}))
"""


@pytest.fixture(scope="module")
def fresh_import() -> dict[str, Any]:
    """What a brand-new interpreter has loaded and registered after ``import app``."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_import_app_loads_no_heavy_library(fresh_import: dict[str, Any]) -> None:
    modules: list[str] = fresh_import["modules"]
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"`import app` imported {heavy[:10]}: import them inside the handlers"
    botocore = sorted(m for m in modules if m.split(".")[0] == "botocore" and m not in BOTOCORE_ALLOWED)
    assert botocore == [], f"`import app` imported {botocore[:10]}: import them inside the handlers"


def _may_load_at_import(module: str) -> bool:
    parts = module.split(".")
    if len(parts) <= 2:  # ``chalicelib`` and the domain packages (empty ``__init__``)
        return True
    if parts[1] == "core":
        return module not in HEAVY_CORE
    # a domain's route and event-handler modules, and the slots app.py plugs services into
    return parts[-1] in ("api", "events", "wiring")


def test_import_app_loads_no_domain_internals(fresh_import: dict[str, Any]) -> None:
    project = [m for m in fresh_import["modules"] if m.split(".")[0] == "chalicelib"]
    leaked = sorted(m for m in project if not _may_load_at_import(m))
    assert leaked == [], f"`import app` imported {leaked}: import them inside the handlers"


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/health", "GET"),
        ("/v1/me", "GET"),
        ("/v1/users/{user_id}/follow", "PUT"),
        ("/v1/me/suggestions", "GET"),
        ("/v1/conversations", "POST"),
        ("/v1/conversations/{conversation_id}/messages", "POST"),
        ("/v1/conversations/{conversation_id}/messages", "GET"),
        ("/v1/reports", "POST"),
        ("/v1/attachments", "POST"),
        ("/v1/videos/{video_id}/shares", "POST"),
        ("/v1/me/share-suggestions", "GET"),
        ("/v1/me/devices", "PUT"),
        ("/v1/me/devices/{device_id}", "DELETE"),
        ("/v1/streams", "POST"),
        ("/v1/streams/{stream_id}/chat", "GET"),
        ("/v1/streams/{stream_id}/orders", "POST"),
        ("/v1/payments/webhook", "POST"),
        ("/v1/me/orders", "GET"),
        ("/v1/realtime", "GET"),
    ],
)
def test_routes_are_registered_at_import(fresh_import: dict[str, Any], path: str, method: str) -> None:
    assert method in fresh_import["routes"].get(path, []), f"{method} {path} is not registered"


def test_every_domain_registers_its_routes(fresh_import: dict[str, Any]) -> None:
    handlers = set(fresh_import["handlers"])
    routes = sum(len(methods) for methods in fresh_import["routes"].values())
    assert routes >= 61
    for prefix, at_least in {
        "social_": 15,
        "dm_": 14,
        "share_": 4,
        "notify_": 5,
        "live_": 11,
        "checkout_": 11,
        "realtime_": 5,
    }.items():
        assert sum(h.startswith(prefix) for h in handlers) >= at_least, prefix


def test_event_handlers_are_registered_at_import(fresh_import: dict[str, Any]) -> None:
    handlers = set(fresh_import["handlers"])
    assert {
        "share_video_events",
        "notify_publish_outbox",
        "notify_push_event",
        "project_inbox",
        "project_live_snapshots",
        "project_share_interactions",
        "checkout_expire_orders",
        "realtime_connect",
        "realtime_disconnect",
        "realtime_message",
        "realtime_deliver",
    } <= handlers
    sources = {tuple(s) for s in fresh_import["event_sources"]}
    assert {
        ("DynamoDBEventConfig", "notify_publish_outbox"),
        ("DynamoDBEventConfig", "project_inbox"),
        ("DynamoDBEventConfig", "project_live_snapshots"),
        ("DynamoDBEventConfig", "project_share_interactions"),
        ("SNSEventConfig", "share_video_events"),
        ("SNSEventConfig", "notify_push_event"),
        ("SNSEventConfig", "realtime_deliver"),
        ("ScheduledEventConfig", "checkout_expire_orders"),
    } <= sources
