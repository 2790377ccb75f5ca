"""Stripe over HTTP (chalice test client + moto): Stripe's Event objects signed with
``Stripe-Signature``, every handled type, odd headers, secret rotation, and the sweeper
catching up after a long outage."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import ApiClient, body_of
from tests.integration.checkout.conftest import (
    SECRET,
    Clock,
    Sale,
    create_product,
    order,
    pin,
    remaining,
    start_stream,
    webhook,
)
from tests.integration.checkout.test_paid_notifications import _published_events, _stream_records
from tests.support import stripe_events as stripe

TEN_MINUTES = 10 * 60 * 1000


def _sweep(api: ApiClient) -> Any:
    event = api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    return api.client.lambda_.invoke("checkout_expire_orders", event).payload


def _order(api: ApiClient, order_id: str, user: str = "vic") -> dict[str, Any]:
    return dict(body_of(api.get(f"/v1/orders/{order_id}", user=user)))


def _pin_counts(sale: Sale) -> tuple[int, int, int, int]:
    from chalicelib.checkout.dal import repository

    found = repository().get_pin_stock(sale.stream_id, sale.product_id)
    assert found is not None
    p, _ = found  # summed over its stock shards
    return p.remaining, p.held, p.sold, p.pinned


def _post(api: ApiClient, raw: bytes, headers: dict[str, str]) -> Any:
    return api.request("POST", "/v1/payments/webhook", raw=raw.decode(), headers=headers)


def test_every_event_type_moves_the_order_as_stripe_means_it(
    api: ApiClient, sale: Sale, clock: Clock
) -> None:
    # Given three pending orders
    paid = body_of(order(api, sale, "vic", 1))
    failed = body_of(order(api, sale, "dan", 1))
    canceled = body_of(order(api, sale, "eve", 1))
    # When Stripe reports success, failure and cancellation
    assert body_of(webhook(api, clock, paid))["result"] == "paid"
    assert body_of(webhook(api, clock, failed, "failed"))["result"] == "payment_failed"
    assert body_of(webhook(api, clock, canceled, "canceled"))["result"] == "payment_failed"
    # Then one unit is sold and two are back on sale
    assert remaining(api, sale) == 4
    # When part of the paid order is refunded in Stripe's dashboard, then the rest
    part = webhook(api, clock, paid, "partially_refunded", refunded=400, event_id="evt_re_1")
    assert body_of(part)["result"] == "partially_refunded"
    assert (_order(api, paid["order_id"])["status"], _order(api, paid["order_id"])["refunded_cents"]) == (
        "paid",
        400,
    )
    full = webhook(api, clock, paid, "refunded", event_id="evt_re_2")
    assert body_of(full)["result"] == "refunded"
    shown = _order(api, paid["order_id"])
    assert (shown["status"], shown["refunded_cents"], shown["refund_reason"]) == ("refunded", 999, None)
    # And a dispute flags it for the seller
    assert body_of(webhook(api, clock, paid, "disputed"))["result"] == "disputed"
    assert _order(api, paid["order_id"], "hana")["disputed"] is True
    # And the sold unit stays sold throughout
    assert _pin_counts(sale) == (4, 0, 1, 5)


def test_the_outbox_tells_the_buyer_of_refunds_and_the_seller_of_disputes(
    api: ApiClient, sale: Sale, clock: Clock
) -> None:
    from app import app

    placed = body_of(order(api, sale, "vic", 1))
    assert body_of(webhook(api, clock, placed))["result"] == "paid"
    assert (
        body_of(webhook(api, clock, placed, "partially_refunded", refunded=100))["result"]
        == "partially_refunded"
    )
    assert body_of(webhook(api, clock, placed, "disputed"))["result"] == "disputed"
    app.handler_map["notify_publish_outbox"]({"Records": _stream_records()}, None)
    by_type = {e["type"]: e for e in _published_events()}
    assert by_type["order.refunded"]["recipient_ids"] == ["vic"]
    assert by_type["order.refunded"]["data"]["refunded_cents"] == 100
    assert by_type["order.disputed"]["recipient_ids"] == ["hana"]


def test_duplicates_and_unknown_orders_are_acknowledged_without_effect(
    api: ApiClient, sale: Sale, clock: Clock
) -> None:
    placed = body_of(order(api, sale, "vic", 1))
    assert body_of(webhook(api, clock, placed))["result"] == "paid"
    again = webhook(api, clock, placed)
    assert again.status_code == 200 and body_of(again)["result"] in ("duplicate", "ignored")
    stranger = {**placed, "order_id": "01UNKNOWNORDER"}
    assert body_of(webhook(api, clock, stranger))["result"] == "ignored"
    other_intent = {**placed, "payment": {**placed["payment"], "payment_intent_id": "pi_other"}}
    assert body_of(webhook(api, clock, other_intent, "failed", event_id="evt_x"))["result"] == "ignored"
    raw = stripe.raw(stripe.event("invoice.paid", {"id": "in_1", "object": "invoice"}))
    ignored = _post(api, raw, {"Stripe-Signature": stripe.signature(raw, SECRET)})
    assert (ignored.status_code, body_of(ignored)) == (200, {"received": True, "result": "ignored"})
    assert _order(api, placed["order_id"])["status"] == "paid"
    assert _pin_counts(sale) == (4, 0, 1, 5)


def test_a_mismatched_amount_is_refunded_and_the_order_fails(
    api: ApiClient, sale: Sale, clock: Clock
) -> None:
    placed = body_of(order(api, sale, "vic", 2))
    result = webhook(api, clock, placed, amount=1)
    assert body_of(result)["result"] == "amount_mismatch"
    assert _order(api, placed["order_id"])["status"] == "payment_failed"
    assert remaining(api, sale) == 5


ODD_HEADERS = {
    "payment-signature-only": {"Payment-Signature": "t=1,v1=00"},
    "superscript-t": {"Stripe-Signature": "t=²,v1=" + "0" * 64},
    "non-hex-v1": {"Stripe-Signature": f"t={int(time.time())},v1={'zz' * 32}"},
    "non-ascii": {"Stripe-Signature": f"t={int(time.time())},v1=\u00e9\u00fc"},
    "only-commas": {"Stripe-Signature": ",,,"},
}


@pytest.mark.parametrize("case", sorted(ODD_HEADERS))
def test_odd_signature_headers_are_400_invalid_signature_never_500(
    api: ApiClient, sale: Sale, clock: Clock, case: str
) -> None:
    placed = body_of(order(api, sale, "vic", 1))
    pi = stripe.payment_intent(placed["payment"]["payment_intent_id"], placed["order_id"], 999)
    raw = stripe.raw(stripe.event("payment_intent.succeeded", pi))
    response = _post(api, raw, {"Content-Type": "application/json", **ODD_HEADERS[case]})
    assert (response.status_code, body_of(response)["code"]) == (400, "invalid_signature")
    assert _order(api, placed["order_id"])["status"] == "pending_payment"


def test_a_body_over_64_kib_is_413(api: ApiClient, sale: Sale) -> None:
    raw = b'{"pad": "' + b"x" * (64 * 1024) + b'"}'
    response = _post(api, raw, {"Stripe-Signature": stripe.signature(raw, SECRET)})
    assert (response.status_code, body_of(response)["code"]) == (413, "payload_too_large")


def test_during_a_secret_rotation_both_secrets_are_accepted(
    api: ApiClient, sale: Sale, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.core.settings import get_settings

    # Given PAYMENT_WEBHOOK_SECRET holding the new and the old secret
    monkeypatch.setenv("PAYMENT_WEBHOOK_SECRET", f"whsec_new,{SECRET}")
    get_settings.cache_clear()
    try:
        first, second = body_of(order(api, sale, "vic", 1)), body_of(order(api, sale, "dan", 1))
        # When Stripe signs with both (and a v0 decoy), or still only with the old one
        for placed, secrets in ((first, ("whsec_new", SECRET)), (second, (SECRET,))):
            pi = stripe.payment_intent(placed["payment"]["payment_intent_id"], placed["order_id"], 999)
            raw = stripe.raw(stripe.event("payment_intent.succeeded", pi))
            header = stripe.signature(raw, *secrets, v0_decoy=True)
            # Then each is accepted
            assert body_of(_post(api, raw, {"Stripe-Signature": header}))["result"] == "paid"
    finally:
        get_settings.cache_clear()


def test_one_sweep_after_two_hours_down_expires_every_overdue_order_exactly(
    api: ApiClient, clock: Clock
) -> None:
    # Given a pin of 20 units and orders placed across two hours while the sweeper was stopped
    stream_id = start_stream(api, "hana")
    product_id = create_product(api, "hana", stock=20)
    assert pin(api, "hana", stream_id, product_id, flash_stock=20, per_user_limit=10).status_code == 201
    sale = Sale(stream_id, product_id)
    start = clock()
    placed = []
    for minute, buyer in ((0, "ann"), (25, "bob"), (70, "cat"), (105, "dan"), (118, "eve")):
        clock.ms = start + minute * 60_000
        placed.append(body_of(order(api, sale, buyer, 2)))
    # When the sweeper runs once, two hours after the first order
    clock.ms = start + 120 * 60_000
    result = _sweep(api)
    # Then every order whose hold ended is expired (even the 2-hour-old one), the newest is not
    assert result["expired"] == 4
    statuses = [_order(api, o["order_id"], o["buyer_id"])["status"] for o in placed]
    assert statuses == ["expired"] * 4 + ["pending_payment"]
    # And the stock is exact: remaining + held + sold == pinned
    left, held, sold, pinned = _pin_counts(sale)
    assert (left, held, sold) == (18, 2, 0) and left + held + sold == pinned == 20
    assert _sweep(api)["expired"] == 0
