"""dm integration fixtures: tokens are minted once per user (RSA signing is the slow part)."""

from __future__ import annotations

from functools import lru_cache

import pytest

from tests.support.env import token_for


@lru_cache(maxsize=64)
def _cached_token(user_id: str) -> str:
    return token_for(user_id)


def _auth_headers(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_cached_token(user_id)}", "Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def _fast_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.conftest.auth_headers", _auth_headers)
