"""Bearer-token verification: RS256 JWTs checked against a JWKS.

In AWS the JWKS is the Cognito user pool's (fetched once per container and cached);
locally it is a file written by ``make run`` next to the key pair that signs local tokens.
Everything else — algorithm pinning, issuer, client id, expiry, ``token_use`` — is the same
code path. Any doubt fails closed with ``UnauthorizedError``.

Only Cognito *access* tokens are accepted (``token_use: access``; the app client in
``client_id``; no ``aud``). ID tokens (``token_use: id``, the client in ``aud``) describe the
user to the app and are not meant as API credentials: they are refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from chalicelib.core.errors import UnauthorizedError
from chalicelib.core.settings import Settings, get_settings

KeyLookup = Callable[[str], Any]
ACCESS_TOKEN_USE = "access"  # noqa: S105 - a claim value, not a secret


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for, and until when (``exp``, epoch seconds)."""

    user_id: str
    expires_at: int


class TokenVerifier:
    """Verifies bearer tokens and returns the caller's user id (the ``sub`` claim)."""

    def __init__(self, issuer: str, audience: str, key_for_kid: KeyLookup) -> None:
        self._issuer = issuer
        self._audience = audience
        self._key_for_kid = key_for_kid

    def verify(self, token: str) -> str:
        """Return ``sub`` of a valid token; raise ``UnauthorizedError`` otherwise."""
        return self.identity(token).user_id

    def identity(self, token: str) -> Identity:
        """The caller and the token's expiry; raise ``UnauthorizedError`` for an invalid token."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256":
                raise UnauthorizedError("Unsupported token algorithm.")
            key = self._key_for_kid(str(header.get("kid", "")))
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "iss"], "verify_aud": False},
                leeway=5,
            )
        except UnauthorizedError:
            raise
        except jwt.ExpiredSignatureError as err:
            raise UnauthorizedError("The token has expired.") from err
        except (jwt.PyJWTError, KeyError, ValueError) as err:
            raise UnauthorizedError("The token is not valid.") from err
        # ID tokens (token_use "id", the client in ``aud``) are not API credentials.
        if claims.get("token_use") != ACCESS_TOKEN_USE:
            raise UnauthorizedError("An access token is required.")
        # Cognito access tokens name the app client in ``client_id`` (they carry no ``aud``).
        if claims.get("client_id") != self._audience:
            raise UnauthorizedError("The token is not for this application.")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 128:
            raise UnauthorizedError("The token has no subject.")
        # PyJWT has checked that ``exp`` is an integer (or integral) in the future.
        return Identity(user_id=sub, expires_at=int(claims["exp"]))


def _keys_from_jwks(jwks: dict[str, Any]) -> dict[str, Any]:
    import jwt

    keys: dict[str, Any] = {}
    for jwk in jwks.get("keys", []):
        if jwk.get("kty") == "RSA" and jwk.get("kid"):
            keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256").key
    return keys


def file_key_lookup(path: str) -> KeyLookup:
    """Keys from a local JWKS file (the local stage's stand-in for Cognito's JWKS URL)."""
    with open(path, encoding="utf-8") as fh:
        keys = _keys_from_jwks(json.load(fh))

    def lookup(kid: str) -> Any:
        if kid not in keys:
            raise UnauthorizedError("Unknown signing key.")
        return keys[kid]

    return lookup


def url_key_lookup(url: str) -> KeyLookup:
    """Keys from a JWKS URL (Cognito), fetched lazily and cached by PyJWT's client."""
    import jwt

    client = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=3)

    def lookup(kid: str) -> Any:
        try:
            return client.get_signing_key(kid).key
        except jwt.PyJWKClientError as err:
            raise UnauthorizedError("Unknown signing key.") from err

    return lookup


def build_verifier(settings: Settings) -> TokenVerifier:
    """A verifier for the stage's identity provider."""
    if settings.auth_jwks_url:
        lookup = url_key_lookup(settings.auth_jwks_url)
    elif settings.auth_jwks_file:
        lookup = file_key_lookup(settings.auth_jwks_file)
    else:

        def lookup(kid: str) -> Any:
            raise UnauthorizedError("No identity provider is configured.")

    return TokenVerifier(settings.auth_issuer, settings.auth_audience, lookup)


@lru_cache(maxsize=1)
def verifier() -> TokenVerifier:
    """The container's verifier (JWKS loaded once)."""
    return build_verifier(get_settings())


def authenticate(authorization: str | None) -> str:
    """Parse ``Authorization: Bearer <jwt>`` and return the caller's user id."""
    if not authorization:
        raise UnauthorizedError("Missing bearer token.")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("Expected 'Authorization: Bearer <token>'.")
    return verifier().verify(token.strip())
