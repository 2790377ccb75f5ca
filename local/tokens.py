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


def mint_token(
    private_pem: bytes,
    sub: str,
    *,
    ttl_seconds: int = 12 * 3600,
    issuer: str = LOCAL_ISSUER,
    audience: str = LOCAL_AUDIENCE,
    kid: str = KID,
    **extra: Any,
) -> str:
    """A Cognito-style access token (``client_id`` + ``token_use: access``) for ``sub``."""
    import jwt

    now = int(time.time())
    claims = {
        "sub": sub,
        "iss": issuer,
        "client_id": audience,
        "token_use": "access",
        "iat": now,
        "exp": now + ttl_seconds,
        "username": sub,
        **extra,
    }
    return jwt.encode(claims, _private_key(private_pem), algorithm="RS256", headers={"kid": kid})


def main() -> None:
    """``python -m local.tokens USER [DIR]``: print a bearer token for the local stack."""
    import sys

    user = sys.argv[1] if len(sys.argv) > 1 else "demo-alice"
    directory = Path(sys.argv[2] if len(sys.argv) > 2 else ".local")
    private_path, _ = ensure_keypair(directory)
    print(mint_token(private_path.read_bytes(), user))


if __name__ == "__main__":
    main()
