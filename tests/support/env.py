"""Environment shared by integration tests: fake credentials, settings, a local JWKS."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from local.tokens import ensure_keypair, mint_token

KEY_DIR = Path(__file__).resolve().parent.parent.parent / ".local" / "test-keys"

BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "STAGE": "test",
    "CURSOR_SECRET": "test-cursor-secret",
    "PHONE_HASH_SECRET": "test-phone-secret",
    "PAYMENT_WEBHOOK_SECRET": "whsec_test_secret",
    "PAYMENT_PROVIDER": "simulator",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_SERVICE_NAME": "socialvideo",
    "POWERTOOLS_METRICS_NAMESPACE": "SocialVideo",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "SNAPSHOT_BASE_URL": "https://cdn.test/socialvideo",
}


@lru_cache(maxsize=1)
def keypair() -> tuple[bytes, str]:
    """The test key pair (private PEM, JWKS path), created once."""
    private_path, jwks_path = ensure_keypair(KEY_DIR)
    return private_path.read_bytes(), str(jwks_path)


def token_for(user_id: str, **kwargs: object) -> str:
    """A valid bearer token for ``user_id`` (kwargs override claims/options of ``mint_token``)."""
    private_pem, _ = keypair()
    return mint_token(private_pem, user_id, **kwargs)  # type: ignore[arg-type]


@lru_cache(maxsize=4096)
def _cached_token(user_id: str) -> str:
    # Signing costs milliseconds; tokens live 12 h, so one per user per test process is plenty.
    return token_for(user_id)


def auth_headers(user_id: str) -> dict[str, str]:
    """Headers of an authenticated JSON request."""
    return {"Authorization": f"Bearer {_cached_token(user_id)}", "Content-Type": "application/json"}


def apply_base_env() -> None:
    """Set the environment every integration test starts from."""
    _, jwks_path = keypair()
    os.environ.update(BASE_ENV)
    os.environ["AUTH_JWKS_FILE"] = jwks_path
    os.environ.pop("AWS_ENDPOINT_URL", None)


def reset_caches() -> None:
    """Forget settings, clients and the token verifier (the environment just changed)."""
    from chalicelib.checkout import dal as checkout_dal
    from chalicelib.core import auth, clients, deleted, settings

    settings.get_settings.cache_clear()
    checkout_dal.reset_sale_cache()
    deleted.reset()
    clients.reset_clients()
    auth.verifier.cache_clear()


@contextmanager
def functions_environment(endpoint_url: str | None = None) -> Iterator[dict[str, str]]:
    """``infra/template.yaml`` deployed (into ``endpoint_url``, or the active ``mock_aws``) and the
    functions' settings pointed at it; the previous environment is restored afterwards."""
    import boto3

    from local.infra import deploy_all

    saved = dict(os.environ)
    apply_base_env()
    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    try:
        env = deploy_all(boto3.session.Session(region_name="us-east-1"), stage="local")
        os.environ.update({k: v for k, v in env.items() if v})
        reset_caches()
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_caches()
