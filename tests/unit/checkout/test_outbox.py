"""Order status changes become notification events for the right people."""

from __future__ import annotations

from typing import Any

from chalicelib.checkout.outbox import events_from_change
from chalicelib.core.streams import StreamChange

ORDER = {
    "entity": "order", "order_id": "O1", "buyer_id": "ann", "seller_id": "host", "stream_id": "s1",
    "product_id": "p1", "quantity": 2, "amount_cents": 1998, "currency": "EUR", "status": "pending_payment",
    "updated_at": "2027-01-15T08:00:00.000Z",
}  # fmt: skip


def change(old: dict[str, Any] | None, new: dict[str, Any] | None, seq: str = "100") -> StreamChange:
    return StreamChange(
        event_id="e", event_name="MODIFY", sequence_number=seq, keys={"pk": "ORDER#O1", "sk": "META"},
        new=new, old=old, approximate_ms=0,
    )  # fmt: skip


def test_a_paid_order_notifies_buyer_and_seller() -> None:
    [event] = events_from_change(change(ORDER, {**ORDER, "status": "paid"}))
    assert event.type == "order.paid"
    assert event.recipient_ids == ["ann", "host"]
    assert event.data["amount_cents"] == 1998 and event.data["order_id"] == "O1"


def test_failed_and_expired_orders_notify_the_buyer() -> None:
    [failed] = events_from_change(change(ORDER, {**ORDER, "status": "payment_failed"}))
    [expired] = events_from_change(change(ORDER, {**ORDER, "status": "expired"}))
    assert (failed.type, failed.recipient_ids) == ("order.payment_failed", ["ann"])
    assert (expired.type, expired.recipient_ids) == ("order.expired", ["ann"])


def test_a_replayed_record_yields_the_same_event_id_and_other_changes_none() -> None:
    paid = {**ORDER, "status": "paid"}
    assert (
        events_from_change(change(ORDER, paid))[0].event_id
        == events_from_change(change(ORDER, paid))[0].event_id
    )
    assert (
        events_from_change(change(ORDER, paid, "100"))[0].event_id
        != events_from_change(change(ORDER, paid, "101"))[0].event_id
    )
    assert events_from_change(change(None, ORDER)) == []
    assert events_from_change(change(paid, {**paid, "updated_at": "x"})) == []
    assert events_from_change(change(None, {"entity": "pin", "status": "paid"})) == []


def test_a_refunded_order_notifies_the_buyer() -> None:
    # Given a paid order (or one waiting for a refund)
    for before in ("paid", "refund_pending"):
        # When it becomes refunded
        [event] = events_from_change(change({**ORDER, "status": before}, {**ORDER, "status": "refunded"}))
        # Then the buyer is told
        assert (event.type, event.recipient_ids) == ("order.refunded", ["ann"])
        assert event.data["status"] == "refunded" and event.data["amount_cents"] == 1998


def test_a_partial_refund_notifies_the_buyer_without_a_status_change() -> None:
    # Given a paid order
    paid = {**ORDER, "status": "paid"}
    # When Stripe reports part of it refunded (the status stays paid)
    [event] = events_from_change(change(paid, {**paid, "refunded_cents": 300}))
    # Then the buyer gets order.refunded with the refunded total
    assert (event.type, event.recipient_ids) == ("order.refunded", ["ann"])
    assert (event.data["status"], event.data["refunded_cents"]) == ("paid", 300)
    # And the same total again (our own refund echoed back) is no event
    same = {**paid, "refunded_cents": 300}
    assert events_from_change(change(same, {**same, "updated_at": "later"})) == []


def test_an_automatic_refund_carries_its_reason_and_refund_pending_is_an_event() -> None:
    expired = {**ORDER, "status": "expired"}
    late = {**expired, "status": "refunded", "refunded_cents": 1998, "refund_reason": "late_payment"}
    [event] = events_from_change(change(expired, late))
    assert (event.type, event.data["refund_reason"]) == ("order.refunded", "late_payment")
    [pending] = events_from_change(change(expired, {**expired, "status": "refund_pending"}))
    assert (pending.type, pending.recipient_ids) == ("order.refund_pending", ["ann", "host"])


def test_a_dispute_tells_the_seller_once() -> None:
    paid = {**ORDER, "status": "paid"}
    [event] = events_from_change(change(paid, {**paid, "disputed": True}))
    assert (event.type, event.recipient_ids) == ("order.disputed", ["host"])
    disputed = {**paid, "disputed": True}
    assert events_from_change(change(disputed, {**disputed, "updated_at": "later"})) == []
