"""Bearer-token verification: every rejection the foundation issue lists → UnauthorizedError."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from functions.core.auth import TokenVerifier, authenticate, file_key_lookup
from functions.core.errors import UnauthorizedError
from local.tokens import KID, LOCAL_AUDIENCE, LOCAL_ISSUER, ensure_keypair, mint_token
from tests.support.env import keypair


@pytest.fixture(scope="module")
def verifier() -> TokenVerifier:
    _, jwks_path = keypair()
    return TokenVerifier(LOCAL_ISSUER, LOCAL_AUDIENCE, file_key_lookup(jwks_path))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "alice",
        "iss": LOCAL_ISSUER,
        "client_id": LOCAL_AUDIENCE,
        "token_use": "access",
        "iat": now,
        "exp": now + 600,
        **overrides,
    }


def _hs256_with_public_key() -> str:
    """The classic confusion attack: HMAC-sign with the (public) JWKS text as the secret."""
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': KID})}.{_b64(_claims())}"
    with open(keypair()[1], "rb") as fh:
        secret = fh.read()
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_valid_token_yields_the_subject(verifier: TokenVerifier) -> None:
    # Given a token minted by the local identity provider
    token = mint_token(keypair()[0], "alice")
    # When / Then
    assert verifier.verify(token) == "alice"


def test_id_token_with_audience_claim_is_accepted(verifier: TokenVerifier) -> None:
    claims = _claims(token_use="id", aud=LOCAL_AUDIENCE)
    del claims["client_id"]
    token = jwt.encode(claims, keypair()[0], algorithm="RS256", headers={"kid": KID})
    assert verifier.verify(token) == "alice"


@pytest.mark.parametrize(
    ("case", "make_token"),
    [
        ("expired", lambda: mint_token(keypair()[0], "alice", ttl_seconds=-60)),
        ("wrong issuer", lambda: mint_token(keypair()[0], "alice", issuer="https://evil.example")),
        ("wrong audience", lambda: mint_token(keypair()[0], "alice", audience="other-app")),
        ("unknown kid", lambda: mint_token(keypair()[0], "alice", kid="other-key")),
        (
            "alg none",
            lambda: f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{_b64(_claims())}.",
        ),
        ("HS256 signed with the public key (RS/HS confusion)", lambda: _hs256_with_public_key()),
        ("not a JWT", lambda: "definitely-not-a-token"),
        ("wrong token_use", lambda: mint_token(keypair()[0], "alice", token_use="refresh")),
        ("no subject", lambda: mint_token(keypair()[0], "")),
    ],
)
def test_invalid_tokens_are_rejected(verifier: TokenVerifier, case: str, make_token: Any) -> None:
    # Given a token that must not authenticate anyone
    token = make_token()
    # When / Then
    with pytest.raises(UnauthorizedError):
        verifier.verify(token)


def test_signature_from_another_key_is_rejected(verifier: TokenVerifier, tmp_path: Any) -> None:
    # Given a token with the right kid but signed by a different private key
    other_private, _ = ensure_keypair(tmp_path)
    token = mint_token(other_private.read_bytes(), "mallory")
    # When / Then
    with pytest.raises(UnauthorizedError):
        verifier.verify(token)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   "])
def test_missing_or_malformed_authorization_header(header: str | None) -> None:
    with pytest.raises(UnauthorizedError):
        authenticate(header)


def _create_keypair_at(directory: Any, start_at: float) -> bytes:
    while time.time() < start_at:
        time.sleep(0.001)
    private_path, _ = ensure_keypair(directory)
    return private_path.read_bytes()


def test_key_pair_created_by_racing_processes_is_one_pair(tmp_path: Any) -> None:
    # Given four processes that all find no key pair and create one at the same moment
    # (the pytest-xdist workers of a fresh clone do exactly this)
    import multiprocessing

    start_at = time.time() + 0.5
    with multiprocessing.get_context("fork").Pool(4) as pool:
        seen = pool.starmap(_create_keypair_at, [(tmp_path, start_at)] * 4)
    # Then every process signs with the same private key ...
    assert len(set(seen)) == 1
    # ... and the JWKS left beside it verifies that key's tokens
    _, jwks_path = ensure_keypair(tmp_path)
    verifier = TokenVerifier(LOCAL_ISSUER, LOCAL_AUDIENCE, file_key_lookup(str(jwks_path)))
    assert verifier.verify(mint_token(seen[0], "alice")) == "alice"
