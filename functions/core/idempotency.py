"""Request fingerprints for Idempotency-Key handling (the record itself is written by each
domain inside its own transaction, so idempotency costs no extra round trip)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

IDEMPOTENCY_TTL_SECONDS = 24 * 3600


def fingerprint(*parts: Any) -> str:
    """A stable hash of the request (route identity + canonical body)."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
