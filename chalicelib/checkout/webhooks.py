"""Stripe webhooks: verify the ``Stripe-Signature``, then dispatch the Event to the order logic.

Verification and parsing live in :mod:`chalicelib.checkout.stripe_events`; this module only
decides which order change an event type means. Unknown types, unknown orders and intents that
are not the order's are acknowledged (200, ``ignored``) so Stripe stops retrying, and change
nothing.
"""

from __future__ import annotations

from typing import Any

from chalicelib.checkout import stripe_events as se
from chalicelib.checkout.orders import (
    apply_charge_refunded,
    apply_dispute_created,
    apply_payment_failed,
    apply_payment_succeeded,
)
from chalicelib.checkout.payments import PaymentProvider
from chalicelib.checkout.ports import CheckoutRepository

# Kept importable from here: the local simulator, the bench and the fuzzer sign with it.
sign = se.sign
TOLERANCE_SECONDS = se.TOLERANCE_SECONDS


def handle_webhook(
    repo: CheckoutRepository,
    provider: PaymentProvider,
    secrets: list[str],
    header: str | None,
    raw_body: bytes,
    now_ms: int,
    wall_s: int,
) -> dict[str, Any]:
    """Verify and apply one Stripe event; returns ``{"received": true, "result": ...}``.

    ``wall_s`` is the real clock the signature's timestamp is checked against (the SDK reads
    the same clock); ``now_ms`` stamps the order changes.
    """
    se.verify(raw_body, header, secrets, wall_s)
    event = se.parse(raw_body)
    return {"received": True, "result": _apply(repo, provider, event, now_ms)}


def _apply(repo: CheckoutRepository, provider: PaymentProvider, event: se.StripeEvent, now_ms: int) -> str:
    if event.type in (se.SUCCEEDED, se.FAILED, se.CANCELED):
        intent = se.intent_event(event)
        if intent.order_id is None:
            return "ignored"  # an intent we did not create
        if event.type == se.SUCCEEDED:
            return apply_payment_succeeded(
                repo,
                intent.order_id,
                intent.intent_id,
                event.event_id,
                now_ms,
                provider=provider,
                amount_received=intent.amount_received,
                currency=intent.currency,
            )
        return apply_payment_failed(repo, intent.order_id, intent.intent_id, event.event_id, now_ms)
    if event.type == se.CHARGE_REFUNDED:
        charge = se.charge_refunded(event)
        if charge.intent_id is None:
            return "ignored"
        order_id = charge.order_id or provider.order_id_of(charge.intent_id)
        if order_id is None:
            return "ignored"
        return apply_charge_refunded(
            repo,
            order_id,
            charge.intent_id,
            charge.charge_id,
            charge.amount_refunded,
            charge.refunded,
            event.event_id,
            now_ms,
        )
    if event.type == se.DISPUTE_CREATED:
        dispute = se.dispute_created(event)
        if dispute.intent_id is None:
            return "ignored"
        order_id = provider.order_id_of(dispute.intent_id)
        if order_id is None:
            return "ignored"
        return apply_dispute_created(repo, order_id, dispute.intent_id, event.event_id, now_ms)
    return "ignored"
