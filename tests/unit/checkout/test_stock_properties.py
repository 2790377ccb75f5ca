"""Property: whatever buyers, payments (succeeded, failed, canceled — on time, late, replayed or
out of order), refunds (seller's, Stripe dashboard's, automatic), disputes, cancellations,
unpins and the sweeper do, in any order, every unit is in exactly one place
(``sum(shards) + held + sold == pinned``, and per stock shard ``remaining + held + sold ==
units``), no unit is created or lost between the pin and the product, and no order ends in two
final states. The pin's 8 units are spread over 3 stock shards (3/3/2), so orders fall over and
units return to the shard their order records."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chalicelib.checkout import catalog, orders
from chalicelib.checkout.errors import (
    IllegalTransitionError,
    LimitExceededError,
    PinNotFoundError,
    SoldOutError,
)
from chalicelib.checkout.models import (
    CANCELLED,
    EXPIRED,
    PAID,
    PAYMENT_FAILED,
    PENDING,
    REFUND_PENDING,
    REFUNDED,
    OrderCreate,
)
from chalicelib.core.errors import DomainError, IdempotencyKeyReusedError, UnavailableError
from tests.unit.checkout.conftest import T0, make_world

TOTAL = 20
BUYERS = ["ann", "bob", "cat", "dan"]


class StockMachine(RuleBasedStateMachine):
    """Random interleavings of order / cancel / pay / fail / canceled / expire / unpin / refund /
    dashboard refund / dispute / Stripe outage."""

    @initialize()
    def setup(self) -> None:
        self.w = make_world(stock=TOTAL, flash_stock=8, per_user_limit=3, peak=750)
        assert [s.units for s in self._shards()] == [3, 3, 2]
        self.now = T0
        self.order_ids: list[str] = []
        self.events = 0
        self.refunded_after_paid: set[str] = set()  # their units stay sold
        self.late_refunds: set[str] = set()  # paid too late: refunded, never held or sold
        self.final: dict[str, str] = {}  # first final state each order reached

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
        order = self.w.repo.orders[order_id]
        before = order.status
        result = orders.apply_payment_succeeded(
            self.w.repo, order_id, order.payment.payment_intent_id, f"evt_{self.events}", self.now,
            provider=self.w.provider, amount_received=order.amount_cents, currency=order.currency.lower(),
        )  # fmt: skip
        if result in ("refunded", "refund_pending"):
            # A late success that could not buy anything: refunded (or pending), never sold.
            assert before in (EXPIRED, PAYMENT_FAILED, CANCELLED)
            self.late_refunds.add(order_id)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def pay_a_wrong_amount(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(self.order_ids))
        order = self.w.repo.orders[order_id]
        self.events += 1
        try:
            orders.apply_payment_succeeded(
                self.w.repo, order_id, order.payment.payment_intent_id, f"evt_{self.events}", self.now,
                provider=self.w.provider, amount_received=order.amount_cents - 1, currency=order.currency,
            )  # fmt: skip
            expected = PAYMENT_FAILED if order.status == PENDING else order.status
        except UnavailableError:  # Stripe down: nothing changes, Stripe retries the webhook
            expected = order.status
        # Never paid by it: a pending order fails (its units return), any other state stays
        assert self.w.repo.orders[order_id].status == expected

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), kind=st.sampled_from(["failed", "canceled"]))
    def fail_or_cancel_at_stripe(self, data: st.DataObject, kind: str) -> None:
        order_id = data.draw(st.sampled_from(self.order_ids))
        self.events += 1
        intent = self.w.repo.orders[order_id].payment.payment_intent_id
        orders.apply_payment_failed(self.w.repo, order_id, intent, f"evt_{kind}_{self.events}", self.now)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), fraction=st.sampled_from([0.3, 1.0]))
    def refund_in_the_stripe_dashboard(self, data: st.DataObject, fraction: float) -> None:
        order_id = data.draw(st.sampled_from(self.order_ids))
        order = self.w.repo.orders[order_id]
        self.events += 1
        was_paid = order.status == PAID
        cents = max(1, int(order.amount_cents * fraction))
        result = orders.apply_charge_refunded(
            self.w.repo, order_id, order.payment.payment_intent_id, f"ch_{order_id}", cents,
            cents >= order.amount_cents, f"evt_re_{self.events}", self.now,
        )  # fmt: skip
        if result == "refunded" and was_paid:
            self.refunded_after_paid.add(order_id)

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def buyer_disputes(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(self.order_ids))
        self.events += 1
        intent = self.w.repo.orders[order_id].payment.payment_intent_id
        orders.apply_dispute_created(self.w.repo, order_id, intent, f"evt_dp_{self.events}", self.now)

    @rule(down=st.booleans())
    def stripe_refunds_go_down_or_up(self, down: bool) -> None:
        self.w.provider.refunds_fail = down

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
        except (IllegalTransitionError, UnavailableError):  # 409, or 503 while Stripe is down
            return
        if was_paid:
            self.refunded_after_paid.add(order_id)

    @rule(minutes=st.integers(0, 11))
    def time_passes_and_the_sweeper_runs(self, minutes: int) -> None:
        self.now += minutes * 60_000
        orders.sweep_expired(self.w.repo, self.now, self.w.provider)
        orders.retry_refunds(self.w.repo, self.w.provider, self.now)

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
    def an_order_never_has_two_final_states(self) -> None:
        # paid may still become refunded (seller / dashboard); refund_pending only refunded;
        # released states may still be paid late (re-reserved) or refunded.
        allowed = {
            PAID: {PAID, REFUNDED},
            REFUNDED: {REFUNDED},
            REFUND_PENDING: {REFUND_PENDING, REFUNDED},
        }
        for order_id, order in self.w.repo.orders.items():
            first = self.final.get(order_id)
            if first is not None:
                assert order.status in allowed[first], (first, order.status)
            if order.status in allowed:
                self.final.setdefault(order_id, order.status)
            if order.refund_reason is not None:  # only automatic refunds carry a reason
                assert order.status in (REFUNDED, REFUND_PENDING) and order_id in self.late_refunds

    @invariant()
    def no_order_is_refunded_more_than_it_cost_and_refunds_use_the_order_id(self) -> None:
        for order in self.w.repo.orders.values():
            assert 0 <= order.refunded_cents <= order.amount_cents
        # Stripe deduplicates on the key: one refund per order, however often it is retried.
        assert {r["key"] for r in self.w.provider.refunds} <= set(self.w.repo.orders)

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
