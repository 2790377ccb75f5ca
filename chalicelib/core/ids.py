"""ULIDs: 48-bit millisecond timestamp + 80 random bits, Crockford base32, sortable by time."""

from __future__ import annotations

import os
import threading

from chalicelib.core.clock import now_ms

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_ulid(at_ms: int | None = None) -> str:
    """Return a new ULID; monotonic within one process for the same millisecond."""
    global _last_ms, _last_rand
    ts = now_ms() if at_ms is None else at_ms
    with _lock:
        if at_ms is None and ts <= _last_ms:
            ts = _last_ms
            rand = (_last_rand + 1) & ((1 << 80) - 1)
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        if at_ms is None:
            _last_ms, _last_rand = ts, rand
    return _encode(ts, 10) + _encode(rand, 16)


def ulid_time_ms(ulid: str) -> int:
    """The millisecond timestamp encoded in a ULID."""
    value = 0
    for ch in ulid[:10].upper():
        value = value * 32 + _ALPHABET.index(ch)
    return value


def is_ulid(value: str) -> bool:
    """True when ``value`` looks like a ULID (26 Crockford base32 characters)."""
    return len(value) == 26 and all(c in _ALPHABET for c in value.upper())
