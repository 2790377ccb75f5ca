"""Stripe webhooks (SDK-verified ``Stripe-Signature``, Event objects) and how each event type
moves orders and stock."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib.checkout import orders, webhooks
from chalicelib.checkout.errors import InvalidSignatureError
from chalicelib.checkout.models import HOLD_MS, OrderCreate
from chalicelib.core.errors import UnavailableError, ValidationError
from tests.support import stripe_events as stripe
from tests.unit.checkout.conftest import T0, World, make_world

SECRET = "whsec_unit"
OLD_SECRET = "whsec_unit_old"
AMOUNT = 999  # one unit at the flash price (EUR)


def buy(w: World, buyer: str, quantity: int = 1, now: int = T0) -> str:
    order = orders.place_order(
        w.repo, w.provider, buyer_id=buyer, stream_id=w.stream_id,
        body=OrderCreate(product_id=w.product_id, quantity=quantity), idem_key=buyer, now_ms=now,
    )  # fmt: skip
    return str(order["order_id"])


def intent_event(order_id: str, kind: str = "succeeded", quantity: int = 1, **kw: Any) -> bytes:
    types = {
        "succeeded": ("payment_intent.succeeded", "succeeded"),
        "failed": ("payment_intent.payment_failed", "requires_payment_method"),
        "canceled": ("payment_intent.canceled", "canceled"),
    }
    event_type, status = types[kind]
    pi = stripe.payment_intent(
        kw.pop("intent_id", f"pi_{order_id}"), kw.pop("metadata_order_id", order_id), AMOUNT * quantity,
        status=status, **kw,
    )  # fmt: skip
    return stripe.raw(stripe.event(event_type, pi, event_id=f"evt_{kind}_{order_id}"))


def refund_event(order_id: str, refunded: int, total: int = AMOUNT, event_id: str | None = None) -> bytes:
    obj = stripe.charge(f"pi_{order_id}", order_id, total, refunded)
    return stripe.raw(
        stripe.event("charge.refunded", obj, event_id=event_id or f"evt_re_{order_id}_{refunded}")
    )


def deliver(
    w: World, body: bytes, now: int = T0 + 1000, header: str | None = None, secrets: list[str] | None = None
) -> str:
    header = header if header is not None else stripe.signature(body, SECRET)
    reply = webhooks.handle_webhook(
        w.repo, w.provider, secrets or [SECRET], header, body, now, int(time.time())
    )
    return str(reply["result"])


def pin(w: World) -> tuple[int, int, int]:
    p = w.repo.pin_with_stock(w.stream_id, w.product_id)
    return p.remaining, p.held, p.sold


def status(w: World, order_id: str) -> str:
    return w.repo.orders[order_id].status


# --- payment_intent.* ------------------------------------------------------------------------


def test_a_success_event_pays_the_order_once(world: World) -> None:
    # Given a pending order of 2 units
    order_id = buy(world, "ann", 2)
    body = intent_event(order_id, quantity=2)
    # When Stripe reports success (twice, as Stripe may)
    assert deliver(world, body) == "paid"
    assert deliver(world, body) in ("duplicate", "ignored")
    # Then it is paid and its units are sold, once
    assert status(world, order_id) == "paid"
    assert pin(world) == (3, 0, 2)


@pytest.mark.parametrize("kind", ["failed", "canceled"])
def test_a_failed_or_canceled_intent_fails_the_order_and_returns_the_units_once(
    world: World, kind: str
) -> None:
    order_id = buy(world, "ann", 2)
    body = intent_event(order_id, kind, quantity=2)
    assert deliver(world, body) == "payment_failed"
    assert deliver(world, body) in ("duplicate", "ignored")
    assert status(world, order_id) == "payment_failed"
    assert pin(world) == (5, 0, 0)


def test_a_failure_webhook_costs_one_read_and_one_write(world: World) -> None:
    # Given a pending order
    order_id = buy(world, "ann")
    reads: list[str] = []
    original = world.repo.get_pin

    def counted(stream_id: str, product_id: str) -> Any:
        reads.append("pin")
        return original(stream_id, product_id)

    monkey = pytest.MonkeyPatch()
    monkey.setattr(world.repo, "get_pin", counted)
    writes = world.repo.writes
    # When its payment fails
    assert deliver(world, intent_event(order_id, "failed")) == "payment_failed"
    # Then the pin was not read and one transaction was written
    monkey.undo()
    assert reads == [] and world.repo.writes == writes + 1


@pytest.mark.parametrize(
    "change", [{"amount_received": AMOUNT - 1}, {"currency": "usd"}], ids=["amount", "currency"]
)
def test_a_success_for_another_amount_or_currency_is_refunded_and_fails_the_order(
    world: World, change: dict[str, Any]
) -> None:
    # Given a pending order of 9.99 EUR
    order_id = buy(world, "ann")
    # When Stripe reports a success for a different amount or currency
    result = deliver(world, intent_event(order_id, **change))
    # Then it is not paid: the received money is refunded, the order fails, its unit returns
    assert result == "amount_mismatch"
    assert status(world, order_id) == "payment_failed"
    assert pin(world) == (5, 0, 0)
    [refund] = world.provider.refunds
    assert refund == {
        "payment_intent_id": f"pi_{order_id}",
        "amount_cents": change.get("amount_received", AMOUNT),
        "key": order_id,
    }


def test_a_success_after_the_hold_expired_re_reserves_while_stock_remains(world: World) -> None:
    # Given an order the sweeper expired
    order_id = buy(world, "ann", 2)
    orders.sweep_expired(world.repo, T0 + HOLD_MS, world.provider)
    assert pin(world) == (5, 0, 0)
    # When the payment succeeds late
    assert deliver(world, intent_event(order_id, quantity=2), now=T0 + HOLD_MS + 5000) == "paid"
    # Then the order is paid from the remaining stock
    assert status(world, order_id) == "paid"
    assert pin(world) == (3, 0, 2)


def test_a_late_success_whose_units_were_sold_is_refunded_at_once() -> None:
    # Given an expired order whose only unit was then bought by someone else
    w = make_world(flash_stock=1)
    order_id = buy(w, "ann")
    orders.sweep_expired(w.repo, T0 + HOLD_MS, w.provider)
    buy(w, "bob", now=T0 + HOLD_MS + 1)
    # When ann's payment succeeds late
    assert deliver(w, intent_event(order_id), now=T0 + HOLD_MS + 5000) == "refunded"
    # Then she is refunded at once (key: the order id), nothing is oversold
    order = w.repo.orders[order_id]
    assert (order.status, order.refund_reason, order.refund_id) == (
        "refunded",
        "late_payment",
        f"re_{order_id}",
    )
    assert order.refunded_cents == AMOUNT
    assert w.provider.refunds == [
        {"payment_intent_id": f"pi_{order_id}", "amount_cents": AMOUNT, "key": order_id}
    ]
    assert pin(w) == (0, 1, 0)


def test_a_late_refund_stays_pending_while_stripe_is_down_and_the_sweeper_retries() -> None:
    # Given an expired, sold-out order and Stripe refusing refunds
    w = make_world(flash_stock=1)
    order_id = buy(w, "ann")
    orders.sweep_expired(w.repo, T0 + HOLD_MS, w.provider)
    buy(w, "bob", now=T0 + HOLD_MS + 1)
    w.provider.refunds_fail = True
    # When ann's payment succeeds late
    assert deliver(w, intent_event(order_id), now=T0 + HOLD_MS + 5000) == "refund_pending"
    assert status(w, order_id) == "refund_pending"
    # Then a sweeper run while Stripe is down keeps it pending, and the next one refunds it
    assert orders.retry_refunds(w.repo, w.provider, T0 + HOLD_MS + 60_000) == 0
    w.provider.refunds_fail = False
    assert orders.retry_refunds(w.repo, w.provider, T0 + HOLD_MS + 120_000) == 1
    order = w.repo.orders[order_id]
    assert (order.status, order.refund_reason) == ("refunded", "late_payment")
    assert orders.retry_refunds(w.repo, w.provider, T0 + HOLD_MS + 180_000) == 0
    assert len(w.provider.refunds) == 1
    assert pin(w) == (0, 1, 0)


def test_a_pending_refund_keeps_its_reason_for_the_retry(world: World) -> None:
    # Given a cancelled order whose late payment arrives while Stripe refuses refunds
    order_id = buy(world, "ann")
    orders.cancel_order(world.repo, world.provider, "ann", order_id, T0 + 1000)
    world.provider.refunds_fail = True
    assert deliver(world, intent_event(order_id), now=T0 + 2000) == "refund_pending"
    # When the sweeper's retry goes through
    world.provider.refunds_fail = False
    assert orders.retry_refunds(world.repo, world.provider, T0 + 60_000) == 1
    # Then the refund says why: the order had been cancelled
    order = world.repo.orders[order_id]
    assert (order.status, order.refund_reason) == ("refunded", "order_cancelled")


def test_a_success_on_a_cancelled_order_is_refunded(world: World) -> None:
    order_id = buy(world, "ann")
    orders.cancel_order(world.repo, world.provider, "ann", order_id, T0 + 1000)
    assert world.provider.cancelled == [f"pi_{order_id}"]
    assert deliver(world, intent_event(order_id), now=T0 + 2000) == "refunded"
    order = world.repo.orders[order_id]
    assert (order.status, order.refund_reason) == ("refunded", "order_cancelled")
    assert pin(world) == (5, 0, 0)


def test_a_success_on_a_pending_order_past_its_hold_keeps_the_held_units(world: World) -> None:
    order_id = buy(world, "ann")
    assert deliver(world, intent_event(order_id), now=T0 + HOLD_MS + 5000) == "paid"
    assert pin(world) == (4, 0, 1)
    assert orders.sweep_expired(world.repo, T0 + HOLD_MS + 6000, world.provider) == 0


def test_out_of_order_deliveries_never_give_an_order_two_final_states(world: World) -> None:
    # Given one order paid, then its (older) failure delivered late
    paid = buy(world, "ann")
    assert deliver(world, intent_event(paid)) == "paid"
    assert deliver(world, intent_event(paid, "failed")) == "ignored"
    assert status(world, paid) == "paid"
    # Given another order canceled, then a success delivered after it
    canceled = buy(world, "bob")
    assert deliver(world, intent_event(canceled, "canceled")) == "payment_failed"
    assert deliver(world, intent_event(canceled)) == "paid"  # units remain: re-reserved
    assert deliver(world, intent_event(canceled, "canceled")) in ("duplicate", "ignored")
    assert status(world, canceled) == "paid"
    assert pin(world) == (3, 0, 2)


@pytest.mark.parametrize(
    "change",
    [{"intent_id": "pi_other"}, {"metadata_order_id": None}, {"metadata_order_id": "01UNKNOWN"}],
    ids=["other-intent", "no-metadata", "unknown-order"],
)
def test_an_event_that_is_not_for_the_order_is_acknowledged_and_changes_nothing(
    world: World, change: dict[str, Any]
) -> None:
    order_id = buy(world, "ann")
    assert deliver(world, intent_event(order_id, **change)) == "ignored"
    assert status(world, order_id) == "pending_payment"
    assert pin(world) == (4, 1, 0)


def test_other_event_types_are_acknowledged_as_ignored(world: World) -> None:
    body = stripe.raw(stripe.event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert deliver(world, body) == "ignored"


# --- charge.refunded / charge.dispute.created -------------------------------------------------


def test_a_full_refund_in_the_stripe_dashboard_refunds_the_paid_order(world: World) -> None:
    # Given a paid order
    order_id = buy(world, "ann")
    assert deliver(world, intent_event(order_id)) == "paid"
    # When the seller refunds it in Stripe's dashboard
    body = refund_event(order_id, AMOUNT)
    assert deliver(world, body) == "refunded"
    assert deliver(world, body) in ("duplicate", "ignored")
    # Then the app shows it refunded; the unit stays sold, the buyer's limit is freed
    order = world.repo.orders[order_id]
    assert (order.status, order.refunded_cents) == ("refunded", AMOUNT)
    assert pin(world) == (4, 0, 1)
    assert world.repo.units[(world.stream_id, world.product_id, "ann")] == 0


def test_a_partial_refund_records_the_amount_and_keeps_the_status(world: World) -> None:
    order_id = buy(world, "ann")
    assert deliver(world, intent_event(order_id)) == "paid"
    assert deliver(world, refund_event(order_id, 300)) == "partially_refunded"
    assert (status(world, order_id), world.repo.orders[order_id].refunded_cents) == ("paid", 300)
    # An older event (a lower total) delivered late changes nothing
    assert deliver(world, refund_event(order_id, 200)) == "ignored"
    assert deliver(world, refund_event(order_id, AMOUNT)) == "refunded"
    assert world.repo.orders[order_id].refunded_cents == AMOUNT


def test_our_own_refund_echoed_back_by_stripe_changes_nothing(world: World) -> None:
    order_id = buy(world, "ann")
    assert deliver(world, intent_event(order_id)) == "paid"
    orders.refund_order(world.repo, world.provider, "host", order_id, T0 + 2000)
    assert deliver(world, refund_event(order_id, AMOUNT)) == "ignored"
    assert status(world, order_id) == "refunded"


def test_a_charge_without_our_metadata_is_found_through_its_intent(world: World) -> None:
    order_id = buy(world, "ann")
    assert deliver(world, intent_event(order_id)) == "paid"
    obj = stripe.charge(f"pi_{order_id}", None, AMOUNT, AMOUNT)
    assert deliver(world, stripe.raw(stripe.event("charge.refunded", obj))) == "refunded"


def test_a_dispute_flags_the_order_once(world: World) -> None:
    order_id = buy(world, "ann")
    assert deliver(world, intent_event(order_id)) == "paid"
    body = stripe.raw(stripe.event("charge.dispute.created", stripe.dispute(f"pi_{order_id}", AMOUNT)))
    assert deliver(world, body) == "disputed"
    assert deliver(world, body) in ("duplicate", "ignored")
    order = world.repo.orders[order_id]
    assert (order.status, order.disputed) == ("paid", True)
    assert pin(world) == (4, 0, 1)


# --- Stripe-Signature ---------------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


BAD_HEADERS = {
    "missing": lambda body: "",
    "malformed": lambda body: "t=abc,v1=00",
    "no-timestamp": lambda body: "v1=" + stripe.signature(body, SECRET).split("v1=")[1],
    "no-v1": lambda body: f"t={_now()}",
    "only-v0": lambda body: stripe.signature(body, SECRET).replace("v1=", "v0="),
    "wrong-mac": lambda body: f"t={_now()},v1={'0' * 64}",
    "non-hex-v1": lambda body: f"t={_now()},v1={'zz' * 32}",
    "wrong-secret": lambda body: stripe.signature(body, "whsec_wrong"),
    "stale": lambda body: stripe.signature(body, SECRET, timestamp=_now() - 301),
    "future": lambda body: stripe.signature(body, SECRET, timestamp=_now() + 301),
    "tampered-body": lambda body: stripe.signature(body + b" ", SECRET),
    "superscript-t": lambda body: "t=²," + stripe.signature(body, SECRET).split(",", 1)[1],
    "arabic-digits-t": lambda body: "t=١٢٣," + stripe.signature(body, SECRET).split(",", 1)[1],
    "non-ascii": lambda body: stripe.signature(body, SECRET) + "é",
    "non-ascii-v1": lambda body: f"t={_now()},v1=é{'0' * 63}",
    "huge": lambda body: stripe.signature(body, SECRET) + ",v1=" + "0" * 10_000,
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_a_bad_or_stale_signature_is_refused_and_changes_nothing(world: World, case: str) -> None:
    # Given a pending order and a success event for it
    order_id = buy(world, "ann")
    body = intent_event(order_id)
    # When it arrives with a bad Stripe-Signature
    with pytest.raises(InvalidSignatureError):
        deliver(world, body, header=BAD_HEADERS[case](body))
    # Then the order is untouched
    assert status(world, order_id) == "pending_payment"
    assert pin(world) == (4, 1, 0)


def test_a_signature_within_five_minutes_is_accepted(world: World) -> None:
    order_id = buy(world, "ann")
    body = intent_event(order_id)
    assert deliver(world, body, header=stripe.signature(body, SECRET, timestamp=_now() - 290)) == "paid"


def test_during_a_rotation_any_matching_v1_is_valid_and_a_v0_decoy_is_ignored(world: World) -> None:
    # Given Stripe signing with the old and the new secret (and a test-mode v0)
    first, second = buy(world, "ann"), buy(world, "bob")
    both = intent_event(first)
    header = stripe.signature(both, OLD_SECRET, SECRET, v0_decoy=True)
    # When we know only the new secret → accepted; when we hold both (comma-separated) → accepted
    assert deliver(world, both, header=header, secrets=[SECRET]) == "paid"
    old_only = intent_event(second)
    assert (
        deliver(world, old_only, header=stripe.signature(old_only, OLD_SECRET), secrets=[SECRET, OLD_SECRET])
        == "paid"
    )
    # And a body signed only by a secret we do not hold is refused
    third = buy(world, "cat")
    body = intent_event(third)
    with pytest.raises(InvalidSignatureError):
        deliver(world, body, header=stripe.signature(body, OLD_SECRET), secrets=[SECRET])


def test_a_signed_but_malformed_event_is_a_validation_error(world: World) -> None:
    deep = b'{"id": "evt_1", "object": "event", "data": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    for body in (b"not json", b"[1, 2]", b'{"id": 1, "object": "event"}', deep):
        with pytest.raises(ValidationError):
            deliver(world, body)
    non_intent = stripe.raw(stripe.event("payment_intent.succeeded", {"id": "ch_1", "object": "charge"}))
    with pytest.raises(ValidationError):
        deliver(world, non_intent)


def test_a_dispute_while_stripe_cannot_be_asked_is_retryable(world: World) -> None:
    order_id = buy(world, "ann")

    def down(intent_id: str) -> str | None:
        raise UnavailableError("down")

    monkey = pytest.MonkeyPatch()
    monkey.setattr(world.provider, "order_id_of", down)
    body = stripe.raw(stripe.event("charge.dispute.created", stripe.dispute(f"pi_{order_id}", AMOUNT)))
    with pytest.raises(UnavailableError):
        deliver(world, body)
    assert world.repo.orders[order_id].disputed is False
