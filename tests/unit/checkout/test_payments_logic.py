"""Webhook signatures and how payment events move orders and stock."""

from __future__ import annotations

import json

import pytest

from functions.checkout import orders, webhooks
from functions.checkout.errors import InvalidSignatureError
from functions.checkout.models import HOLD_MS, OrderCreate
from functions.core.errors import ValidationError
from tests.unit.checkout.conftest import T0, World, make_world

SECRET = "whsec_unit"


def buy(w: World, buyer: str, quantity: int = 1, now: int = T0) -> str:
    order = orders.place_order(
        w.repo, w.provider, buyer_id=buyer, stream_id=w.stream_id,
        body=OrderCreate(product_id=w.product_id, quantity=quantity), idem_key=buyer, now_ms=now,
    )  # fmt: skip
    return str(order["order_id"])


def event(order_id: str, kind: str = "succeeded", event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{kind}_{order_id}",
            "type": f"payment_intent.{'succeeded' if kind == 'succeeded' else 'payment_failed'}",
            "data": {"payment_intent_id": f"pi_{order_id}", "order_id": order_id},
        }
    ).encode()


def deliver(w: World, body: bytes, now: int = T0 + 1000, header: str | None = None) -> str:
    header = header if header is not None else webhooks.sign(SECRET, now // 1000, body)
    return str(webhooks.handle_webhook(w.repo, SECRET, header, body, now)["result"])


def pin(w: World) -> tuple[int, int, int]:
    p = w.repo.pin_with_stock(w.stream_id, w.product_id)
    return p.remaining, p.held, p.sold


def test_a_success_event_pays_the_order_once(world: World) -> None:
    # Given a pending order of 2 units
    order_id = buy(world, "ann", 2)
    body = event(order_id)
    # When the provider reports success (twice, as providers do)
    assert deliver(world, body) == "paid"
    assert deliver(world, body) in ("duplicate", "ignored")
    # Then it is paid and its units are sold, once
    assert world.repo.orders[order_id].status == "paid"
    assert pin(world) == (3, 0, 2)


def test_a_failure_event_returns_the_units(world: World) -> None:
    order_id = buy(world, "ann", 2)
    assert deliver(world, event(order_id, "failed")) == "payment_failed"
    assert world.repo.orders[order_id].status == "payment_failed"
    assert pin(world) == (5, 0, 0)


def test_a_success_after_the_hold_expired_re_reserves_while_stock_remains(world: World) -> None:
    # Given an order the sweeper expired
    order_id = buy(world, "ann", 2)
    orders.sweep_expired(world.repo, T0 + HOLD_MS)
    assert pin(world) == (5, 0, 0)
    # When the payment succeeds late
    assert deliver(world, event(order_id), now=T0 + HOLD_MS + 5000) == "paid"
    # Then the order is paid from the remaining stock
    assert world.repo.orders[order_id].status == "paid"
    assert pin(world) == (3, 0, 2)


def test_a_success_after_expiry_with_nothing_left_becomes_refund_pending() -> None:
    # Given an expired order whose unit was bought by someone else
    w = make_world(flash_stock=1)
    order_id = buy(w, "ann")
    orders.sweep_expired(w.repo, T0 + HOLD_MS)
    buy(w, "bob", now=T0 + HOLD_MS + 1)
    # When ann's payment succeeds late
    assert deliver(w, event(order_id), now=T0 + HOLD_MS + 5000) == "refund_pending"
    # Then nothing is oversold
    assert w.repo.orders[order_id].status == "refund_pending"
    assert pin(w) == (0, 1, 0)


def test_a_success_on_a_pending_order_past_its_hold_keeps_the_held_units(world: World) -> None:
    order_id = buy(world, "ann")
    assert deliver(world, event(order_id), now=T0 + HOLD_MS + 5000) == "paid"
    assert pin(world) == (4, 0, 1)
    assert orders.sweep_expired(world.repo, T0 + HOLD_MS + 6000) == 0


def test_an_event_for_another_intent_changes_nothing(world: World) -> None:
    order_id = buy(world, "ann")
    body = json.dumps(
        {"id": "evt_x", "type": "payment_intent.succeeded",
         "data": {"payment_intent_id": "pi_other", "order_id": order_id}}
    ).encode()  # fmt: skip
    assert deliver(world, body) == "ignored"
    assert world.repo.orders[order_id].status == "pending_payment"


NOW_S = (T0 + 1000) // 1000
BAD_HEADERS = {
    "missing": lambda body: "",
    "malformed": lambda body: "t=abc,v1=00",
    "no-timestamp": lambda body: "v1=" + webhooks.sign(SECRET, NOW_S, body).split("v1=")[1],
    "wrong-mac": lambda body: f"t={NOW_S},v1={'0' * 64}",
    "wrong-secret": lambda body: webhooks.sign("wrong-secret", NOW_S, body),
    "stale": lambda body: webhooks.sign(SECRET, NOW_S - 301, body),
    "other-body": lambda body: webhooks.sign(SECRET, NOW_S, body + b" "),
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_a_bad_or_stale_signature_is_refused_and_changes_nothing(world: World, case: str) -> None:
    # Given a pending order and a success event for it
    order_id = buy(world, "ann")
    body = event(order_id)
    # When it arrives with a bad signature
    with pytest.raises(InvalidSignatureError):
        deliver(world, body, header=BAD_HEADERS[case](body))
    # Then the order is untouched
    assert world.repo.orders[order_id].status == "pending_payment"


def test_a_signature_within_five_minutes_is_accepted(world: World) -> None:
    order_id = buy(world, "ann")
    body = event(order_id)
    assert deliver(world, body, header=webhooks.sign(SECRET, NOW_S - 299, body)) == "paid"


def test_a_signed_but_malformed_event_is_a_validation_error(world: World) -> None:
    with pytest.raises(ValidationError):
        deliver(world, b"not json")
    assert deliver(world, b'{"id": "evt_1", "type": "charge.refunded"}') == "ignored"
