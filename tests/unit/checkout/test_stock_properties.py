"""Property: whatever buyers, payments, cancellations, unpins and the sweeper do, in any order,
every unit is in exactly one place (``sum(shards) + held + sold == pinned``, and per stock
shard ``remaining + held + sold == units``) and no unit is created or lost between the pin and
the product. The pin's 8 units are spread over 3 stock shards (3/3/2), so orders fall over and
units return to the shard their order records."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from functions.checkout import catalog, orders
from functions.checkout.errors import (
    IllegalTransitionError,
    LimitExceededError,
    PinNotFoundError,
    SoldOutError,
)
from functions.checkout.models import PAID, PENDING, OrderCreate
from functions.core.errors import DomainError, IdempotencyKeyReusedError
from tests.unit.checkout.conftest import T0, make_world

TOTAL = 20
BUYERS = ["ann", "bob", "cat", "dan"]


class StockMachine(RuleBasedStateMachine):
    """Random interleavings of order / cancel / pay / fail / expire / unpin / refund."""

    @initialize()
    def setup(self) -> None:
        self.w = make_world(stock=TOTAL, flash_stock=8, per_user_limit=3, peak=750)
        assert [s.units for s in self._shards()] == [3, 3, 2]
        self.now = T0
        self.order_ids: list[str] = []
        self.events = 0
        self.refunded_after_paid: set[str] = set()  # their units stay sold

    def _shards(self):  # type: ignore[no-untyped-def]
        return self.w.repo.shards_of(self.w.repo.pins[(self.w.stream_id, self.w.product_id)])

    def _pin(self):  # type: ignore[no-untyped-def]
        return self.w.repo.pin_with_stock(self.w.stream_id, self.w.product_id)

    @rule(
        buyer=st.sampled_from(BUYERS),
        quantity=st.integers(1, 3),
        key=st.sampled_from(["a", "b", "c"]),
        cold=st.booleans(),
    )
    def order(self, buyer: str, quantity: int, key: str, cold: bool) -> None:
        self.w.repo.cold = cold  # a container that does not know the shard count yet
        try:
            view = orders.place_order(
                self.w.repo, self.w.provider, buyer_id=buyer, stream_id=self.w.stream_id,
                body=OrderCreate(product_id=self.w.product_id, quantity=quantity),
                idem_key=key, now_ms=self.now,
            )  # fmt: skip
        except (SoldOutError, LimitExceededError, PinNotFoundError, IdempotencyKeyReusedError):
            return
        if view["order_id"] not in self.order_ids:
            self.order_ids.append(view["order_id"])

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(self.order_ids))
        buyer = self.w.repo.orders[order_id].buyer_id
        with contextlib.suppress(IllegalTransitionError):
            orders.cancel_order(self.w.repo, self.w.provider, buyer, order_id, self.now)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), replay=st.booleans())
    def pay(self, data: st.DataObject, replay: bool) -> None:
        order_id = data.draw(st.sampled_from(self.order_ids))
        # A replayed delivery reuses the previous event id (must change nothing).
        if not replay:
            self.events += 1
        intent = self.w.repo.orders[order_id].payment.payment_intent_id
        orders.apply_payment_succeeded(self.w.repo, order_id, intent, f"evt_{self.events}", self.now)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(self.order_ids))
        self.events += 1
        intent = self.w.repo.orders[order_id].payment.payment_intent_id
        orders.apply_payment_failed(self.w.repo, order_id, intent, f"evt_{self.events}", self.now)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def seller_refunds(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(self.order_ids))
        was_paid = self.w.repo.orders[order_id].status == PAID
        try:
            orders.refund_order(self.w.repo, self.w.provider, "host", order_id, self.now)
        except IllegalTransitionError:
            return
        if was_paid:
            self.refunded_after_paid.add(order_id)

    @rule(minutes=st.integers(0, 11))
    def time_passes_and_the_sweeper_runs(self, minutes: int) -> None:
        self.now += minutes * 60_000
        orders.sweep_expired(self.w.repo, self.now)

    @rule()
    def host_unpins(self) -> None:
        with contextlib.suppress(DomainError):
            catalog.unpin(self.w.repo, "host", self.w.stream_id, self.w.product_id, self.now)

    @invariant()
    def every_unit_is_in_exactly_one_place(self) -> None:
        pin = self._pin()
        assert pin.remaining >= 0 and pin.held >= 0 and pin.sold >= 0
        assert pin.remaining + pin.held + pin.sold == pin.pinned
        assert self.w.repo.products[self.w.product_id].stock + pin.pinned == TOTAL
        for shard in self._shards():
            assert min(shard.remaining, shard.held, shard.sold) >= 0
            assert shard.remaining + shard.held + shard.sold == shard.units

    @invariant()
    def the_sold_out_flag_never_strands_a_unit(self) -> None:
        stored = self.w.repo.pins[(self.w.stream_id, self.w.product_id)]
        if stored.sold_out and stored.status == "active":
            assert self._pin().remaining == 0

    @invariant()
    def held_and_sold_match_the_orders(self) -> None:
        pin = self._pin()
        all_orders = list(self.w.repo.orders.values())
        assert pin.held == sum(o.quantity for o in all_orders if o.status == PENDING)
        sold = [o for o in all_orders if o.status == PAID or o.order_id in self.refunded_after_paid]
        assert pin.sold == sum(o.quantity for o in sold)
        for buyer in BUYERS:
            units = self.w.repo.units.get((self.w.stream_id, self.w.product_id, buyer), 0)
            live = sum(o.quantity for o in all_orders if o.buyer_id == buyer and o.status in (PENDING, PAID))
            assert units == live
        # Each shard holds exactly the units of the pending orders that record it.
        for shard in self._shards():
            pending = [o for o in all_orders if o.status == PENDING and o.shard == shard.shard]
            assert shard.held == sum(o.quantity for o in pending)


StockMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestStock = StockMachine.TestCase
