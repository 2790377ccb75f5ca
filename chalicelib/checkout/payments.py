"""Payment providers: a Protocol, the local/test simulator and the Stripe adapter."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from chalicelib.checkout.models import PaymentIntent
from chalicelib.checkout.ports import PaymentProvider
from chalicelib.core.errors import UnavailableError
from chalicelib.core.observability import logger
from chalicelib.core.settings import Settings


class SimulatorProvider:
    """Local/test stand-in: deterministic intent ids, no network. ``make pay`` plays the
    provider's webhook."""

    name = "simulator"

    def __init__(self, secret: str = "simulator") -> None:  # noqa: S107 - not a credential
        self._secret = secret.encode()

    def create_intent(
        self, *, order_id: str, amount_cents: int, currency: str, metadata: dict[str, str]
    ) -> PaymentIntent:
        """``pi_sim_<order_id>`` with a client secret derived from it (same order → same intent)."""
        intent_id = f"pi_sim_{order_id}"
        tag = hmac.new(self._secret, intent_id.encode(), hashlib.sha256).hexdigest()[:24]
        return PaymentIntent(self.name, intent_id, f"{intent_id}_secret_{tag}")

    def cancel_intent(self, payment_intent_id: str) -> None:
        """Nothing to abandon in the simulator."""

    def refund(self, payment_intent_id: str, amount_cents: int, *, idempotency_key: str) -> str:
        """``re_sim_<key>`` (same key → same refund id)."""
        return f"re_sim_{idempotency_key}"

    def order_id_of(self, payment_intent_id: str) -> str | None:
        """The order id inside ``pi_sim_<order_id>``."""
        prefix = "pi_sim_"
        return payment_intent_id[len(prefix) :] if payment_intent_id.startswith(prefix) else None


class StripeProvider:
    """Stripe PaymentIntents through the official SDK (``api_base`` overridable for tests)."""

    name = "stripe"

    def __init__(self, api_key: str, api_base: str = "", max_network_retries: int = 2) -> None:
        import stripe

        base: Any = {"api": api_base.rstrip("/")} if api_base else None
        self._client = stripe.StripeClient(
            api_key, base_addresses=base, max_network_retries=max_network_retries
        )

    def create_intent(
        self, *, order_id: str, amount_cents: int, currency: str, metadata: dict[str, str]
    ) -> PaymentIntent:
        """POST /v1/payment_intents with ``Idempotency-Key: <order_id>``: a retried order gets
        the same intent, never a second charge."""
        import stripe

        try:
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": amount_cents,
                    "currency": currency.lower(),
                    "metadata": {**metadata, "order_id": order_id},
                    "automatic_payment_methods": {"enabled": True},
                },
                options={"idempotency_key": order_id},
            )
        except stripe.StripeError as err:
            logger.warning("stripe create_intent failed", extra={"order_id": order_id, "error": str(err)})
            raise UnavailableError("The payment provider is unavailable; retry.") from err
        return PaymentIntent(self.name, str(intent.id), str(intent.client_secret or ""))

    def cancel_intent(self, payment_intent_id: str) -> None:
        """POST /v1/payment_intents/{id}/cancel; failures are logged, never raised."""
        import stripe

        try:
            self._client.v1.payment_intents.cancel(payment_intent_id)
        except stripe.StripeError as err:
            logger.warning(
                "stripe cancel_intent failed", extra={"intent": payment_intent_id, "error": str(err)}
            )

    def refund(self, payment_intent_id: str, amount_cents: int, *, idempotency_key: str) -> str:
        """POST /v1/refunds for the intent with ``Idempotency-Key: refund-<key>``: a retried
        refund (or two sellers' clicks racing) gets the same refund, never a second one."""
        import stripe

        try:
            refund = self._client.v1.refunds.create(
                params={"payment_intent": payment_intent_id, "amount": amount_cents},
                options={"idempotency_key": f"refund-{idempotency_key}"},
            )
        except stripe.StripeError as err:
            logger.warning("stripe refund failed", extra={"intent": payment_intent_id, "error": str(err)})
            raise UnavailableError("The payment provider is unavailable; retry.") from err
        return str(refund.id)

    def order_id_of(self, payment_intent_id: str) -> str | None:
        """GET /v1/payment_intents/{id} → ``metadata.order_id`` (503 while Stripe is down, so
        the webhook is retried); an intent Stripe does not know is not ours → None."""
        import stripe

        try:
            intent = self._client.v1.payment_intents.retrieve(payment_intent_id)
        except stripe.InvalidRequestError:
            return None
        except stripe.StripeError as err:
            logger.warning("stripe retrieve failed", extra={"intent": payment_intent_id, "error": str(err)})
            raise UnavailableError("The payment provider is unavailable; retry.") from err
        metadata = intent.metadata.to_dict() if intent.metadata is not None else {}
        order_id = metadata.get("order_id")
        return str(order_id) if order_id else None


def provider_from_settings(settings: Settings) -> PaymentProvider:
    """The stage's provider: Stripe in AWS stages, the simulator locally and in tests."""
    if settings.payment_provider == "stripe":
        return StripeProvider(settings.stripe_api_key, settings.stripe_api_base)
    return SimulatorProvider(settings.payment_webhook_secret)
