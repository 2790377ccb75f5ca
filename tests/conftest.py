"""Fixtures: ``aws`` (moto in-process with the real infra template deployed), ``api``
(``chalice.test.Client`` on the ``test`` stage, whose config sets no environment) and
``local_stack`` (the real local stack over HTTP, for e2e and contract tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.env import auth_headers, functions_environment
from tests.support.local_stack import local_stack, own_stack

# One real local stack per test session (per xdist worker), shared by e2e and contract tests.
__all__ = ["local_stack", "own_stack"]


def _reuse_moto_kms_key_material() -> None:
    """moto makes an RSA-2048 key for every KMS key, even symmetric ones (~0.1-0.7 s each, once
    per test deploying the template). Our code never uses that key pair: reuse one per spec."""
    from functools import lru_cache

    import moto.kms.models as kms_models

    if not hasattr(kms_models.generate_private_key, "cache_info"):
        kms_models.generate_private_key = lru_cache(maxsize=None)(kms_models.generate_private_key)


@pytest.fixture
def aws() -> Iterator[dict[str, str]]:
    """In-process moto with ``infra/template.yaml`` deployed; yields the settings environment."""
    from moto import mock_aws

    _reuse_moto_kms_key_material()
    with mock_aws(), functions_environment() as env:
        yield env


class ApiClient:
    """``chalice.test.Client`` with JSON helpers: ``api.post(path, body, user=...)``."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = None,
        headers: dict[str, str] | None = None,
        raw: str | None = None,
    ) -> Any:
        """Send a request; ``user`` adds a valid bearer token; returns chalice's response."""
        all_headers = auth_headers(user) if user else {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.client.http.request(method, path, headers=all_headers, body=payload)

    def get(self, path: str, **kw: Any) -> Any:
        """GET."""
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        """POST."""
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        """PUT."""
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        """PATCH."""
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> Any:
        """DELETE."""
        return self.request("DELETE", path, body, **kw)


@pytest.fixture
def api(aws: dict[str, str]) -> Iterator[ApiClient]:
    """The Chalice app behind a test client, wired to the ``aws`` fixture."""
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="test") as client:
        yield ApiClient(client)


def body_of(response: Any) -> Any:
    """JSON body of a chalice test response."""
    return json.loads(response.body) if response.body else None
