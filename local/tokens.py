"""Local identity provider: an RSA key pair, its JWKS, and tokens shaped like Cognito's.

``make run`` creates the key pair once under ``.local/``; the functions verify local tokens
through the same JWKS code path they use against Cognito in AWS.
"""

from __future__ import annotations

import json
import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCAL_ISSUER = "https://auth.local.socialvideo"
LOCAL_AUDIENCE = "socialvideo-local"
KID = "local-1"


def ensure_keypair(directory: Path) -> tuple[Path, Path]:
    """Create ``private.pem`` and ``jwks.json`` in ``directory`` unless they exist.

    Safe when several processes start at once (pytest-xdist workers on a fresh clone): creation
    runs under an exclusive lock, and each file appears atomically, so nobody ever reads a JWKS
    that does not match the private key next to it.
    """
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    private_path, jwks_path = directory / "private.pem", directory / "jwks.json"
    if private_path.exists() and jwks_path.exists():
        return private_path, jwks_path
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (private_path.exists() and jwks_path.exists()):
            pem, jwks = _new_keypair()
            # The JWKS lands first: the private key's presence is what readers take as "ready".
            _write_atomically(jwks_path, jwks.encode(), mode=0o644)
            _write_atomically(private_path, pem, mode=0o600)
    return private_path, jwks_path


def _new_keypair() -> tuple[bytes, str]:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": KID, "alg": "RS256", "use": "sig"})
    return pem, json.dumps({"keys": [jwk]}, indent=2)


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.chmod(mode)
    os.replace(temporary, path)


@lru_cache(maxsize=8)
def _private_key(private_pem: bytes) -> Any:
    # Parsing (and validating) an RSA key costs ~0.1 s; signing with a parsed key ~1 ms.
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(private_pem, password=None)


DEFAULT_TTL_SECONDS = 12 * 3600
# The scope Cognito puts in access tokens issued by its hosted UI / InitiateAuth.
COGNITO_SCOPE = "aws.cognito.signin.user.admin"


def mint_token(
    private_pem: bytes,
    sub: str,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    issuer: str = LOCAL_ISSUER,
    audience: str = LOCAL_AUDIENCE,
    kid: str = KID,
    **extra: Any,
) -> str:
    """A Cognito-shaped access token for ``sub``: ``token_use: access``, the app client in
    ``client_id`` and no ``aud`` (as Cognito issues them); ``extra`` adds or overrides claims."""
    import uuid

    import jwt

    now = int(time.time())
    claims = {
        "sub": sub,
        "iss": issuer,
        "client_id": audience,
        "origin_jti": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "token_use": "access",
        "scope": COGNITO_SCOPE,
        "auth_time": now,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
        "username": sub,
        **extra,
    }
    return jwt.encode(claims, _private_key(private_pem), algorithm="RS256", headers={"kid": kid})


def mint_id_token(
    private_pem: bytes,
    sub: str,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    issuer: str = LOCAL_ISSUER,
    audience: str = LOCAL_AUDIENCE,
    kid: str = KID,
) -> str:
    """A Cognito-shaped ID token (``token_use: id``, the app client in ``aud``): what the API
    must refuse (tests of the "access tokens only" rule)."""
    import uuid

    import jwt

    now = int(time.time())
    claims = {
        "sub": sub,
        "aud": audience,
        "email_verified": True,
        "iss": issuer,
        "cognito:username": sub,
        "origin_jti": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "token_use": "id",
        "auth_time": now,
        "exp": now + ttl_seconds,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "email": f"{sub}@example.test",
    }
    return jwt.encode(claims, _private_key(private_pem), algorithm="RS256", headers={"kid": kid})


def main(argv: list[str] | None = None) -> None:
    """``python -m local.tokens [USER] [DIR] [--ttl SECONDS]``: print an access token for the
    local stack (``make token USER=<id> TTL=<seconds>``; 12 h by default)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m local.tokens", description=main.__doc__)
    parser.add_argument("user", nargs="?", default="demo-alice")
    parser.add_argument("directory", nargs="?", default=".local")
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="lifetime in seconds")
    args = parser.parse_args(argv)
    if args.ttl <= 0:
        parser.error("--ttl must be a positive number of seconds")
    private_path, _ = ensure_keypair(Path(args.directory))
    print(mint_token(private_path.read_bytes(), args.user, ttl_seconds=args.ttl))


if __name__ == "__main__":
    main()
