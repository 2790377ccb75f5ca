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

from chalicelib.core.auth import TokenVerifier, authenticate, file_key_lookup
from chalicelib.core.errors import UnauthorizedError
from local.tokens import KID, LOCAL_AUDIENCE, LOCAL_ISSUER, ensure_keypair, mint_id_token, mint_token
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


def test_identity_carries_the_tokens_expiry(verifier: TokenVerifier) -> None:
    # Given an access token that lives 3 seconds
    before = int(time.time())
    token = mint_token(keypair()[0], "alice", ttl_seconds=3)
    # When it is verified
    identity = verifier.identity(token)
    # Then the identity names the user and the token's exp
    assert identity.user_id == "alice"
    assert before + 3 <= identity.expires_at <= int(time.time()) + 3


def test_cognito_id_token_is_refused(verifier: TokenVerifier) -> None:
    # Given a Cognito-shaped ID token of the right pool and app client (aud, token_use "id")
    token = mint_id_token(keypair()[0], "alice")
    # When / Then: only access tokens are API credentials
    with pytest.raises(UnauthorizedError, match="access token"):
        verifier.verify(token)


def test_id_token_that_also_names_the_client_id_is_refused(verifier: TokenVerifier) -> None:
    # Given an ID token that carries client_id as well (so only token_use tells it apart)
    claims = _claims(token_use="id", aud=LOCAL_AUDIENCE)
    token = jwt.encode(claims, keypair()[0], algorithm="RS256", headers={"kid": KID})
    # When / Then
    with pytest.raises(UnauthorizedError):
        verifier.verify(token)


def test_access_token_is_checked_by_client_id_not_aud(verifier: TokenVerifier) -> None:
    # Given an access token whose aud names this app but whose client_id is another app
    claims = _claims(client_id="other-app", aud=LOCAL_AUDIENCE)
    token = jwt.encode(claims, keypair()[0], algorithm="RS256", headers={"kid": KID})
    # When / Then: the client of an access token is client_id
    with pytest.raises(UnauthorizedError):
        verifier.verify(token)


def test_local_tokens_are_shaped_like_cognito_access_tokens() -> None:
    # Given a token minted by the local identity provider
    claims = jwt.decode(mint_token(keypair()[0], "alice"), options={"verify_signature": False})
    # Then it has the claims Cognito puts in an access token, and no aud
    assert claims["token_use"] == "access"
    assert claims["client_id"] == LOCAL_AUDIENCE
    assert "aud" not in claims
    assert {"sub", "iss", "exp", "iat", "auth_time", "jti", "scope", "username"} <= set(claims)


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
        ("no token_use", lambda: mint_token(keypair()[0], "alice", token_use=None)),
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
