"""Refunds: the seller moves a paid (or refund_pending) order to refunded, once."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.checkout import orders
from chalicelib.checkout.errors import IllegalTransitionError, OrderNotFoundError
from chalicelib.checkout.models import HOLD_MS, Order, OrderCreate
from chalicelib.core.errors import ForbiddenError, UnavailableError
from tests.unit.checkout.conftest import T0, World, make_world
from tests.unit.checkout.fakes import FakeRepository


def buy(w: World, buyer: str, quantity: int = 1, now: int = T0) -> str:
    order = orders.place_order(
        w.repo, w.provider, buyer_id=buyer, stream_id=w.stream_id,
        body=OrderCreate(product_id=w.product_id, quantity=quantity), idem_key=buyer, now_ms=now,
    )  # fmt: skip
    return str(order["order_id"])


def pay(w: World, order_id: str, now: int = T0 + 1000) -> str:
    intent = w.repo.orders[order_id].payment.payment_intent_id
    return orders.apply_payment_succeeded(w.repo, order_id, intent, f"evt_{order_id}", now)


def refund(w: World, caller: str, order_id: str, now: int = T0 + 2000) -> dict[str, object]:
    return orders.refund_order(w.repo, w.provider, caller, order_id, now)


def stock(w: World) -> tuple[int, int, int, int]:
    """(remaining, held, sold) of the pin and the product's stock."""
    p = w.repo.pin_with_stock(w.stream_id, w.product_id)
    return p.remaining, p.held, p.sold, w.repo.products[w.product_id].stock


def units(w: World, buyer: str) -> int:
    return w.repo.units.get((w.stream_id, w.product_id, buyer), 0)


def test_the_seller_refunds_a_paid_order_once(world: World) -> None:
    # Given ann paid for 2 units
    order_id = buy(world, "ann", 2)
    assert pay(world, order_id) == "paid"
    before = stock(world)
    # When the seller refunds it
    view = refund(world, "host", order_id)
    # Then the order is refunded in full at the provider, with the order id as idempotency key
    assert view["status"] == "refunded"
    assert world.provider.refunds == [
        {"payment_intent_id": f"pi_{order_id}", "amount_cents": 1998, "key": order_id}
    ]
    stored = world.repo.orders[order_id]
    assert (stored.refund_id, stored.refunded_at) == (f"re_{order_id}", "2027-01-15T08:00:02.000Z")
    # And no unit goes back on sale (they were sold), but ann's units stop counting to her limit
    assert stock(world) == before == (3, 0, 2, 5)
    assert units(world, "ann") == 0
    # When the seller refunds it again
    again = refund(world, "host", order_id, now=T0 + 9000)
    # Then the same order comes back and the provider is not asked twice
    assert again == view
    assert len(world.provider.refunds) == 1


def test_only_the_seller_may_refund(world: World) -> None:
    # Given a paid order
    order_id = buy(world, "ann")
    pay(world, order_id)
    # When the buyer or a stranger tries to refund it
    with pytest.raises(ForbiddenError):
        refund(world, "ann", order_id)
    with pytest.raises(OrderNotFoundError):
        refund(world, "eve", order_id)
    with pytest.raises(OrderNotFoundError):
        refund(world, "host", "no-such-order")
    # Then nothing happened
    assert world.repo.orders[order_id].status == "paid"
    assert world.provider.refunds == []


def test_orders_that_were_never_paid_cannot_be_refunded() -> None:
    # Given a pending, a cancelled, a failed and an expired order
    w = make_world(flash_stock=5, per_user_limit=5)
    pending = buy(w, "ann")
    cancelled = buy(w, "bob")
    orders.cancel_order(w.repo, w.provider, "bob", cancelled, T0)
    failed = buy(w, "cat")
    orders.apply_payment_failed(w.repo, failed, f"pi_{failed}", "evt_f", T0 + 1000)
    expired = buy(w, "dan", now=T0 - HOLD_MS)
    before = stock(w)
    for order_id in (pending, cancelled, failed, expired):
        # When the seller tries to refund it
        with pytest.raises(IllegalTransitionError) as refused:
            refund(w, "host", order_id)
        # Then it is a 409 conflict
        assert (refused.value.status, refused.value.code) == (409, "conflict")
    # And nothing changed, at the provider or in stock
    assert w.provider.refunds == []
    assert stock(w) == before
    assert [w.repo.orders[o].status for o in (pending, cancelled, failed, expired)] == [
        "pending_payment", "cancelled", "payment_failed", "pending_payment",
    ]  # fmt: skip


def test_a_refund_pending_order_is_refunded_without_touching_stock() -> None:
    # Given ann's order expired, bob bought the last unit, then ann's payment arrived late
    w = make_world(flash_stock=1)
    order_id = buy(w, "ann")
    orders.sweep_expired(w.repo, T0 + HOLD_MS)
    buy(w, "bob", now=T0 + HOLD_MS + 1)
    assert pay(w, order_id, now=T0 + HOLD_MS + 5000) == "refund_pending"
    before, bob_units = stock(w), units(w, "bob")
    # When the seller refunds it
    view = orders.refund_order(w.repo, w.provider, "host", order_id, T0 + HOLD_MS + 9000)
    # Then it is refunded, and neither the pin, the product nor any counter moves
    assert view["status"] == "refunded"
    assert len(w.provider.refunds) == 1
    assert stock(w) == before == (0, 1, 0, 9)
    assert (units(w, "ann"), units(w, "bob")) == (0, bob_units)


def test_a_provider_outage_leaves_the_order_paid(world: World) -> None:
    # Given a paid order and a provider that is down
    order_id = buy(world, "ann")
    pay(world, order_id)
    world.provider.fail = True
    # When the seller refunds
    with pytest.raises(UnavailableError):
        refund(world, "host", order_id)
    # Then the order is still paid (the seller can retry)
    assert world.repo.orders[order_id].status == "paid"
    assert units(world, "ann") == 1


class RacingRepository(FakeRepository):
    """Another request refunds the order between our read and our write."""

    def refund(self, order: Order, refund_id: str, now_ms: int, **kw: Any) -> None:
        if self.orders[order.order_id].status != "refunded":
            super().refund(order, refund_id, now_ms, **kw)  # the other request wins
        super().refund(order, refund_id, now_ms, **kw)  # ours finds the order changed


def test_two_racing_refunds_end_in_one_refund() -> None:
    # Given a paid order, and a concurrent refund that writes first
    w = make_world()
    w.repo.__class__ = RacingRepository  # same state, racing refund()
    order_id = buy(w, "ann")
    pay(w, order_id)
    # When our refund's write finds the order already refunded
    view = refund(w, "host", order_id)
    # Then it answers the refunded order instead of a conflict, and the counter moved once
    assert view["status"] == "refunded"
    assert units(w, "ann") == 0
