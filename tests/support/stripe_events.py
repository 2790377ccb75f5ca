"""Stripe webhook fixtures written from Stripe's API reference (Event, PaymentIntent, Charge,
Dispute objects as Stripe sends them), NOT from our code, and signed with the official SDK's
scheme (``stripe.WebhookSignature.generate_signature_header``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

API_VERSION = "2024-06-20"


def event(
    event_type: str, obj: dict[str, Any], event_id: str | None = None, created: int = 0
) -> dict[str, Any]:
    """An Event object (https://docs.stripe.com/api/events/object)."""
    return {
        "id": event_id or f"evt_{event_type.replace('.', '_')}_{obj.get('id', '')}",
        "object": "event",
        "api_version": API_VERSION,
        "created": created or int(time.time()),
        "data": {"object": obj, "previous_attributes": {}}
        if event_type == "charge.refunded"
        else {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def payment_intent(
    intent_id: str,
    order_id: str | None,
    amount: int,
    currency: str = "eur",
    status: str = "succeeded",
    amount_received: int | None = None,
) -> dict[str, Any]:
    """A PaymentIntent object (https://docs.stripe.com/api/payment_intents/object)."""
    succeeded = status == "succeeded"
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": (amount if succeeded else 0) if amount_received is None else amount_received,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"enabled": True},
        "canceled_at": int(time.time()) if status == "canceled" else None,
        "cancellation_reason": "abandoned" if status == "canceled" else None,
        "capture_method": "automatic",
        "client_secret": f"{intent_id}_secret_fixture",
        "confirmation_method": "automatic",
        "created": int(time.time()) - 60,
        "currency": currency,
        "customer": None,
        "description": None,
        "last_payment_error": (
            {"code": "card_declined", "decline_code": "generic_decline", "type": "card_error"}
            if status == "requires_payment_method"
            else None
        ),
        "latest_charge": f"ch_{intent_id[3:]}" if succeeded else None,
        "livemode": False,
        "metadata": {"order_id": order_id} if order_id else {},
        "next_action": None,
        "payment_method": "pm_card_visa",
        "payment_method_types": ["card"],
        "status": status,
    }


def charge(
    intent_id: str | None,
    order_id: str | None,
    amount: int,
    amount_refunded: int,
    currency: str = "eur",
    charge_id: str | None = None,
) -> dict[str, Any]:
    """A Charge object (https://docs.stripe.com/api/charges/object); Stripe copies the
    PaymentIntent's metadata onto the charge it creates."""
    cid = charge_id or f"ch_{(intent_id or 'none')[3:]}"
    return {
        "id": cid,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "balance_transaction": "txn_fixture",
        "captured": True,
        "created": int(time.time()) - 30,
        "currency": currency,
        "disputed": False,
        "livemode": False,
        "metadata": {"order_id": order_id} if order_id else {},
        "paid": True,
        "payment_intent": intent_id,
        "refunded": amount_refunded >= amount,
        "refunds": {"object": "list", "data": [], "has_more": False, "url": f"/v1/charges/{cid}/refunds"},
        "status": "succeeded",
    }


def dispute(intent_id: str, amount: int, currency: str = "eur") -> dict[str, Any]:
    """A Dispute object (https://docs.stripe.com/api/disputes/object): it names the charge and
    the intent, with its own (empty) metadata."""
    return {
        "id": f"du_{intent_id[3:]}",
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": f"ch_{intent_id[3:]}",
        "created": int(time.time()),
        "currency": currency,
        "evidence": {},
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": intent_id,
        "reason": "fraudulent",
        "status": "needs_response",
    }


def raw(body: dict[str, Any]) -> bytes:
    """The body as Stripe sends it (pretty-printed JSON, like Stripe's deliveries)."""
    return json.dumps(body, indent=2).encode()


def signature(raw_body: bytes, *secrets: str, timestamp: int | None = None, v0_decoy: bool = False) -> str:
    """The ``Stripe-Signature`` header, one ``v1`` per active secret (two during a rotation),
    optionally with a ``v0`` test-mode decoy, built with the SDK's own signer."""
    import stripe

    t = int(time.time()) if timestamp is None else timestamp
    payload = raw_body.decode()
    v1 = [
        stripe.WebhookSignature.generate_signature_header(payload, s, timestamp=t).split(",v1=")[1]
        for s in secrets
    ]
    parts = [f"t={t}"] + [f"v1={sig}" for sig in v1]
    if v0_decoy:
        parts.append("v0=" + hmac.new(b"decoy", raw_body, hashlib.sha256).hexdigest())
    return ",".join(parts)
