"""Payment webhooks: Stripe-style signatures and dispatch to the order logic."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from functions.checkout.errors import InvalidSignatureError
from functions.checkout.orders import apply_payment_failed, apply_payment_succeeded
from functions.checkout.ports import CheckoutRepository
from functions.core.errors import ValidationError

TOLERANCE_SECONDS = 300
SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"


def sign(secret: str, timestamp: int, raw_body: bytes) -> str:
    """The ``Payment-Signature`` header value for a body (what the provider sends)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str | None, raw_body: bytes, now_s: int) -> None:
    """Check ``t=<unix>,v1=<hex hmac>`` over ``"<t>.<raw body>"`` within a 5-minute tolerance."""
    if not header:
        raise InvalidSignatureError("The Payment-Signature header is missing.")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignatureError("The Payment-Signature header is malformed.")
    if abs(now_s - timestamp) > TOLERANCE_SECONDS:
        raise InvalidSignatureError("The Payment-Signature timestamp is outside the tolerance.")
    expected = sign(secret, timestamp, raw_body).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise InvalidSignatureError("The Payment-Signature does not match.")


def handle_webhook(
    repo: CheckoutRepository, secret: str, header: str | None, raw_body: bytes, now_ms: int
) -> dict[str, Any]:
    """Verify and apply one provider event; unknown types and unknown orders are acknowledged
    (so the provider stops retrying) but change nothing."""
    verify_signature(secret, header, raw_body, now_ms // 1000)
    try:
        event = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValidationError("The event body is not valid JSON.") from err
    if not isinstance(event, dict):
        raise ValidationError("The event body must be a JSON object.")
    event_id, event_type, data = event.get("id"), event.get("type"), event.get("data")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
        raise ValidationError("The event has no id.")
    if event_type not in (SUCCEEDED, FAILED):
        return {"received": True, "result": "ignored"}
    if not isinstance(data, dict):
        raise ValidationError("The event has no data.")
    order_id, intent_id = data.get("order_id"), data.get("payment_intent_id")
    if not isinstance(order_id, str) or not isinstance(intent_id, str) or not 0 < len(order_id) <= 128:
        raise ValidationError("The event data needs order_id and payment_intent_id.")
    if event_type == SUCCEEDED:
        result = apply_payment_succeeded(repo, order_id, intent_id, event_id, now_ms)
    else:
        result = apply_payment_failed(repo, order_id, intent_id, event_id, now_ms)
    return {"received": True, "result": result}
