"""Stripe webhook events: the ``Stripe-Signature`` check (official SDK) and parsing of the
Event objects checkout acts on into plain records.

No boto3, no chalice: the route passes the raw body, the header, the secrets and the wall clock.
``stripe`` is imported inside :func:`verify` so ``import app`` stays cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.checkout.errors import InvalidSignatureError
from chalicelib.core.errors import ValidationError

TOLERANCE_SECONDS = 300
MAX_HEADER_LENGTH = 8192

SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"
CANCELED = "payment_intent.canceled"
CHARGE_REFUNDED = "charge.refunded"
DISPUTE_CREATED = "charge.dispute.created"
# What the Stripe endpoint must be subscribed to (docs/operations.md names the same list).
HANDLED_TYPES = (SUCCEEDED, FAILED, CANCELED, CHARGE_REFUNDED, DISPUTE_CREATED)

# ``t=<digits>`` and ``<scheme>=<value>`` pairs of printable ASCII, as Stripe sends them.
_HEADER_PART = re.compile(r"[A-Za-z0-9]+=[\x21-\x2b\x2d-\x7e]*")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class StripeEvent:
    """The envelope of a verified event and its ``data.object``."""

    event_id: str
    type: str
    created: int
    livemode: bool
    obj: dict[str, Any]


@dataclass(frozen=True)
class IntentEvent:
    """A ``payment_intent.*`` event: the intent, our order id and what Stripe received."""

    event_id: str
    type: str
    intent_id: str
    order_id: str | None
    amount_received: int
    currency: str


@dataclass(frozen=True)
class ChargeRefunded:
    """A ``charge.refunded`` event (the refund may come from our API or Stripe's dashboard)."""

    event_id: str
    charge_id: str
    intent_id: str | None
    order_id: str | None
    amount: int
    amount_refunded: int
    refunded: bool


@dataclass(frozen=True)
class DisputeCreated:
    """A ``charge.dispute.created`` event."""

    event_id: str
    dispute_id: str
    intent_id: str | None
    reason: str


def sign(secret: str, timestamp: int, raw_body: bytes) -> str:
    """A ``Stripe-Signature`` header for a body, computed exactly as Stripe does:
    ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the endpoint secret>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def secrets_of(setting: str) -> list[str]:
    """``PAYMENT_WEBHOOK_SECRET`` may hold several secrets, comma-separated (during a rotation)."""
    return [s.strip() for s in setting.split(",") if s.strip()]


def _precheck(header: str | None, raw_body: bytes, now_s: int) -> str:
    """Refuse what the SDK would crash on or let through: non-ASCII bytes (``hmac.compare_digest``
    raises on them), a non-decimal ``t`` (``int()`` accepts ``²``'s cousins such as ``١٢``), a
    body that is not UTF-8, and a timestamp from the future (the SDK checks only the past)."""
    if not header:
        raise InvalidSignatureError("The Stripe-Signature header is missing.")
    if len(header) > MAX_HEADER_LENGTH or not header.isascii():
        raise InvalidSignatureError("The Stripe-Signature header is malformed.")
    parts = header.split(",")
    if not all(_HEADER_PART.fullmatch(p) for p in parts):
        raise InvalidSignatureError("The Stripe-Signature header is malformed.")
    stamps = [p[2:] for p in parts if p.startswith("t=")]
    if len(stamps) != 1 or not _TIMESTAMP.fullmatch(stamps[0]):
        raise InvalidSignatureError("The Stripe-Signature header needs one t=<unix seconds>.")
    if int(stamps[0]) > now_s + TOLERANCE_SECONDS:
        raise InvalidSignatureError("The Stripe-Signature timestamp is outside the tolerance.")
    try:
        return raw_body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidSignatureError("The signed body is not UTF-8.") from err


def verify(raw_body: bytes, header: str | None, secrets: list[str], now_s: int) -> None:
    """Check the ``Stripe-Signature`` with ``stripe.Webhook.construct_event`` (tolerance 300 s)
    against each configured secret; any match is valid. Raises ``InvalidSignatureError``
    (missing, malformed, stale, wrong secret, tampered) or ``ValidationError`` (signed, but
    not a Stripe event)."""
    payload = _precheck(header, raw_body, now_s)
    if not secrets:
        raise InvalidSignatureError("No webhook secret is configured.")
    import stripe

    for secret in secrets:
        try:
            stripe.Webhook.construct_event(payload, header, secret, tolerance=TOLERANCE_SECONDS)
            return
        except stripe.SignatureVerificationError:
            continue
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as err:
            # The signature matched but the body is not an Event object (or nests too deep).
            raise ValidationError("The event body is not a Stripe event object.") from err
    raise InvalidSignatureError("The Stripe-Signature does not match.")


def parse(raw_body: bytes) -> StripeEvent:
    """The envelope of a verified body: ``{"id","object":"event","type","created","data":{"object"}}``."""
    try:
        event = json.loads(raw_body)
    except (ValueError, RecursionError) as err:
        raise ValidationError("The event body is not valid JSON.") from err
    if not isinstance(event, dict):
        raise ValidationError("The event body must be a JSON object.")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
        raise ValidationError("The event has no id.")
    if not isinstance(event_type, str) or not event_type:
        raise ValidationError("The event has no type.")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    created = event.get("created")
    return StripeEvent(
        event_id=event_id,
        type=event_type,
        created=created if isinstance(created, int) else 0,
        livemode=event.get("livemode") is True,
        obj=obj if isinstance(obj, dict) else {},
    )


def _string(obj: dict[str, Any], name: str, max_length: int = 255) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        raise ValidationError(f"data.object.{name} must be a non-empty string.")
    return value


def _cents(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"data.object.{name} must be a non-negative integer.")
    return value


def _order_id(obj: dict[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    order_id = metadata.get("order_id") if isinstance(metadata, dict) else None
    return order_id if isinstance(order_id, str) and 0 < len(order_id) <= 128 else None


def _intent_ref(value: Any) -> str | None:
    """``payment_intent`` is an id, the expanded object, or null (a charge made without one:
    not ours)."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 255:
        raise ValidationError("data.object.payment_intent must be a PaymentIntent id.")
    return value


def intent_event(event: StripeEvent) -> IntentEvent:
    """A ``payment_intent.*`` event's PaymentIntent (``data.object``)."""
    obj = event.obj
    if obj.get("object") != "payment_intent":
        raise ValidationError("data.object must be a payment_intent.")
    received = obj.get("amount_received", 0)
    currency = obj.get("currency", "")
    return IntentEvent(
        event_id=event.event_id,
        type=event.type,
        intent_id=_string(obj, "id"),
        order_id=_order_id(obj),
        amount_received=received if isinstance(received, int) and not isinstance(received, bool) else -1,
        currency=currency.lower() if isinstance(currency, str) else "",
    )


def charge_refunded(event: StripeEvent) -> ChargeRefunded:
    """A ``charge.refunded`` event's Charge (Stripe copies the intent's metadata onto it)."""
    obj = event.obj
    if obj.get("object") != "charge":
        raise ValidationError("data.object must be a charge.")
    return ChargeRefunded(
        event_id=event.event_id,
        charge_id=_string(obj, "id"),
        intent_id=_intent_ref(obj.get("payment_intent")),
        order_id=_order_id(obj),
        amount=_cents(obj, "amount"),
        amount_refunded=_cents(obj, "amount_refunded"),
        refunded=obj.get("refunded") is True,
    )


def dispute_created(event: StripeEvent) -> DisputeCreated:
    """A ``charge.dispute.created`` event's Dispute (it names the intent, not our order)."""
    obj = event.obj
    if obj.get("object") != "dispute":
        raise ValidationError("data.object must be a dispute.")
    reason = obj.get("reason")
    return DisputeCreated(
        event_id=event.event_id,
        dispute_id=_string(obj, "id"),
        intent_id=_intent_ref(obj.get("payment_intent")),
        reason=reason if isinstance(reason, str) else "",
    )
