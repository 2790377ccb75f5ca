"""Fixtures for checkout over HTTP: a controllable clock and helpers to set up a sale."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ApiClient, body_of
from tests.support.clock import Clock

SECRET = "whsec_test_secret"  # PAYMENT_WEBHOOK_SECRET of tests.support.env


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze checkout's clock (routes and sweeper) at the current second."""
    from chalicelib.checkout import api as checkout_api
    from chalicelib.checkout import events as checkout_events
    from chalicelib.checkout import stream_page
    from chalicelib.core.clock import now_ms

    c = Clock((now_ms() // 1000) * 1000)
    for module in (checkout_api, checkout_events, stream_page):
        monkeypatch.setattr(module, "now_ms", c)
    return c


@pytest.fixture
def calls(aws: dict[str, str]) -> Iterator[list[str]]:
    """Names of the DynamoDB operations sent while the test runs."""
    from chalicelib.core import clients

    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        seen.append(model.name)

    events = clients.dynamodb().meta.events
    events.register("before-call.dynamodb", record)
    yield seen
    events.unregister("before-call.dynamodb", record)


@dataclass
class Sale:
    stream_id: str
    product_id: str


def start_stream(api: ApiClient, host: str) -> str:
    """A live stream hosted by ``host`` (through the live domain's route)."""
    response = api.post("/v1/streams", {"title": "Flash Friday"}, user=host)
    assert response.status_code == 201, response.body
    return str(body_of(response)["stream_id"])


def create_product(api: ApiClient, seller: str, stock: int = 10, price: int = 1500) -> str:
    response = api.post(
        "/v1/products", {"title": "Mug", "price_cents": price, "currency": "EUR", "stock": stock}, user=seller
    )
    assert response.status_code == 201, response.body
    return str(body_of(response)["product_id"])


def pin(api: ApiClient, host: str, stream_id: str, product_id: str, **extra: Any) -> Any:
    return api.post(f"/v1/streams/{stream_id}/pins", {"product_id": product_id, **extra}, user=host)


@pytest.fixture
def sale(api: ApiClient, clock: Clock) -> Sale:
    """Host ``hana`` sells a mug (10 in stock) pinned on her live stream: 5 units at 9.99 EUR,
    at most 2 per buyer, in one stock shard (expected peak 250 orders/s)."""
    stream_id = start_stream(api, "hana")
    product_id = create_product(api, "hana")
    response = pin(
        api, "hana", stream_id, product_id,
        flash_price_cents=999, flash_stock=5, per_user_limit=2, expected_peak_orders_per_second=250,
    )  # fmt: skip
    assert response.status_code == 201, response.body
    return Sale(stream_id, product_id)


def order(
    api: ApiClient, sale: Sale, buyer: str, quantity: int = 1, key: str | None = None, **extra: Any
) -> Any:
    return api.post(
        f"/v1/streams/{sale.stream_id}/orders",
        {"product_id": sale.product_id, "quantity": quantity, **extra},
        user=buyer,
        headers={"Idempotency-Key": key or f"{buyer}-{quantity}"},
    )


def webhook(
    api: ApiClient, clock: Clock, order_body: dict[str, Any], kind: str = "succeeded", **kw: Any
) -> Any:
    """Deliver a Stripe event for the order (a PaymentIntent event, or ``refunded`` /
    ``partially_refunded`` / ``disputed``), signed with ``Stripe-Signature`` like Stripe does."""
    from tests.support import stripe_events as stripe

    intent_id = order_body["payment"]["payment_intent_id"]
    order_id, amount = order_body["order_id"], kw.get("amount", order_body["amount_cents"])
    currency = kw.get("currency", str(order_body["currency"]).lower())
    intents = {
        "succeeded": ("payment_intent.succeeded", "succeeded"),
        "failed": ("payment_intent.payment_failed", "requires_payment_method"),
        "canceled": ("payment_intent.canceled", "canceled"),
    }
    if kind in intents:
        event_type, intent_status = intents[kind]
        obj = stripe.payment_intent(intent_id, order_id, amount, currency, intent_status)
    elif kind in ("refunded", "partially_refunded"):
        event_type = "charge.refunded"
        refunded = amount if kind == "refunded" else kw["refunded"]
        obj = stripe.charge(intent_id, order_id, amount, refunded, currency)
    else:
        event_type, obj = "charge.dispute.created", stripe.dispute(intent_id, amount, currency)
    raw = stripe.raw(stripe.event(event_type, obj, event_id=kw.get("event_id", f"evt_{kind}_{order_id}")))
    header = kw.get("signature") or stripe.signature(raw, kw.get("secret", SECRET))
    return api.request(
        "POST",
        "/v1/payments/webhook",
        raw=raw.decode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": header},
    )


def remaining(api: ApiClient, sale: Sale) -> int:
    """What viewers see on the stream page."""
    stream = body_of(api.get(f"/v1/streams/{sale.stream_id}", user="viewer"))
    [shown] = [p for p in stream["pinned"] if p["product_id"] == sale.product_id]
    return int(shown["remaining"])
