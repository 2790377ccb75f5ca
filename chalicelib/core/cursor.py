"""Opaque, HMAC-signed pagination cursors bound to the caller and the listing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib.core.errors import InvalidCursorError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(secret: str, caller: str, listing: str, position: dict[str, Any]) -> str:
    """Sign ``position`` (e.g. a LastEvaluatedKey) for this caller and listing."""
    payload = _b64(json.dumps(position, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), f"{caller}|{listing}|{payload}".encode(), hashlib.sha256)
    return f"{payload}.{_b64(mac.digest()[:16])}"


def decode_cursor(secret: str, caller: str, listing: str, cursor: str) -> dict[str, Any]:
    """Verify and open a cursor; a tampered or foreign one raises ``InvalidCursorError``."""
    try:
        payload, signature = cursor.split(".", 1)
        expected = hmac.new(
            secret.encode(), f"{caller}|{listing}|{payload}".encode(), hashlib.sha256
        ).digest()[:16]
        if not hmac.compare_digest(_unb64(signature), expected):
            raise InvalidCursorError("The cursor is not valid for this listing.")
        position = json.loads(_unb64(payload))
    except InvalidCursorError:
        raise
    except (ValueError, TypeError) as err:
        raise InvalidCursorError("The cursor is malformed.") from err
    if not isinstance(position, dict):
        raise InvalidCursorError("The cursor is malformed.")
    return position
