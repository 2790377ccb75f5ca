"""Phone numbers verified by SMS: a number belongs to whoever proves they receive its texts.

``PUT /v1/me/phone`` sends a 6-digit code and answers the same whether or not the number is
anyone's (no registration oracle); ``POST /v1/me/phone/verify`` moves the number to the caller,
silently taking it from a previous holder (numbers get recycled: the verified holder wins).

Only keyed hashes are stored: the number as HMAC(secret, E.164) (the same hash contact matching
looks up), the code as HMAC(secret, verification id + code). Verifications expire after 10
minutes (TTL), die after 5 wrong codes, and at most 5 codes per user and 5 per number are sent
per UTC day (SMS pumping fraud costs real money per text).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.core.clock import iso_from_ms
from chalicelib.core.errors import NotFoundError, RateLimitedError, ValidationError
from chalicelib.social.contacts import phone_hash
from chalicelib.social.ports import SmsSender, VerificationStore

CODE_DIGITS = 6
VERIFICATION_SECONDS = 10 * 60
MAX_WRONG_CODES = 5
CODES_PER_USER_PER_DAY = 5
CODES_PER_NUMBER_PER_DAY = 5
DAY_SECONDS = 24 * 3600
VERIFY_ATTEMPTS = 3


class InvalidCodeError(ValidationError):
    """The code does not match."""

    code = "invalid_code"


class VerificationNotFoundError(NotFoundError):
    """No such verification for the caller, or it expired."""


class PhoneRateLimitedError(RateLimitedError):
    """Too many codes, or too many wrong codes."""

    code = "rate_limited"


class VerificationChangedError(Exception):
    """The verification or a holder changed between the read and the write: re-read."""


@dataclass(frozen=True)
class Verification:
    """A pending verification (the code only as its keyed hash)."""

    verification_id: str
    user_id: str
    phone_hash: str
    code_hash: str
    expires_at_s: int
    attempts: int = 0
    region: str | None = None  # of the number (e.g. "GB"): how the holder's phone book is read


def keyed_hash(secret: str, value: str) -> str:
    """HMAC-SHA256 hex digest."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def code_hash(secret: str, verification_id: str, code: str) -> str:
    """What is stored for a code: bound to its verification, useless without the secret."""
    return keyed_hash(secret, f"sms-code:{verification_id}:{code}")


def new_code() -> str:
    """A uniformly random 6-digit code."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def _seconds_to_midnight(now_s: int) -> int:
    return (now_s // DAY_SECONDS + 1) * DAY_SECONDS - now_s


def start_verification(
    store: VerificationStore,
    sms: SmsSender,
    secret: str,
    user_id: str,
    phone: str,
    now_s: int,
    new_id: Callable[[], str],
    make_code: Callable[[], str] = new_code,
) -> dict[str, str]:
    """``PUT /v1/me/phone``: text a code to ``phone`` (international form, "+…").

    The answer never depends on whether the number belongs to someone: the same 202 body, the
    same quotas (the per-number quota counts every code sent to it, whoever asked).
    """
    from chalicelib.social.phones import region_of, to_e164

    e164 = to_e164(phone, None) if phone.startswith("+") else None
    if e164 is None:
        raise ValidationError("phone must be a valid number in international form, like '+44 20 7946 0000'.")
    day = now_s // DAY_SECONDS
    verification_id = new_id()
    code = make_code()
    verification = Verification(
        verification_id=verification_id,
        user_id=user_id,
        phone_hash=phone_hash(secret, e164),
        code_hash=code_hash(secret, verification_id, code),
        expires_at_s=now_s + VERIFICATION_SECONDS,
        region=region_of(e164),
    )
    quota_expires = (day + 2) * DAY_SECONDS
    if not store.start(verification, day, CODES_PER_USER_PER_DAY, CODES_PER_NUMBER_PER_DAY, quota_expires):
        raise PhoneRateLimitedError(
            "Too many verification codes today; try again tomorrow.", retry_after=_seconds_to_midnight(now_s)
        )
    sms.send(e164, f"Your socialvideo code is {code}. It expires in 10 minutes. Do not share it.")
    return {"verification_id": verification_id, "expires_at": iso_from_ms(verification.expires_at_s * 1000)}


def verify(
    store: VerificationStore, secret: str, user_id: str, verification_id: str, code: str, now_s: int
) -> None:
    """``POST /v1/me/phone/verify``: a right code makes the number the caller's (204).

    Unknown, expired or someone else's verification → 404; a wrong code → 400 ``invalid_code``;
    the 5th wrong code ends the verification → 429 (as does any later attempt on it).
    """
    for _ in range(VERIFY_ATTEMPTS):
        found = store.get(verification_id)
        if found is None or found.user_id != user_id or found.expires_at_s <= now_s:
            raise VerificationNotFoundError("No such verification, or it expired.")
        if found.attempts >= MAX_WRONG_CODES:
            raise PhoneRateLimitedError("Too many wrong codes; request a new one.", retry_after=1)
        if not hmac.compare_digest(found.code_hash, code_hash(secret, verification_id, code)):
            attempts = store.wrong_code(found, MAX_WRONG_CODES)
            if attempts >= MAX_WRONG_CODES:
                raise PhoneRateLimitedError("Too many wrong codes; request a new one.", retry_after=1)
            raise InvalidCodeError("The code is not right.")
        try:
            store.claim(found)
            return
        except VerificationChangedError:
            continue  # a concurrent verify or change of number: re-read and decide again
    raise VerificationNotFoundError("No such verification, or it expired.")
