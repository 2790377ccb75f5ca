"""Outbox mapping for the checkout domain: committed table changes → domain events."""

from __future__ import annotations

from chalicelib.core.clock import iso_from_ms
from chalicelib.core.domain_events import DomainEvent, event_from_change
from chalicelib.core.streams import StreamChange

# New order status → (event type, who is told).
_EVENTS = {
    "paid": ("order.paid", ("buyer_id", "seller_id")),
    "payment_failed": ("order.payment_failed", ("buyer_id",)),
    "expired": ("order.expired", ("buyer_id",)),
    "refunded": ("order.refunded", ("buyer_id",)),
    "refund_pending": ("order.refund_pending", ("buyer_id", "seller_id")),
}
REFUNDED_EVENT = _EVENTS["refunded"]
DISPUTED_EVENT = ("order.disputed", ("seller_id",))


def _kinds(new: dict[str, object], old: dict[str, object]) -> list[tuple[str, tuple[str, ...]]]:
    """Which events one order change means: a new status; a refund recorded without a status
    change (partial, or on an order that was no longer paid); a dispute opened."""
    kinds: list[tuple[str, tuple[str, ...]]] = []
    new_status, old_status = new.get("status"), old.get("status")
    if new_status != old_status and new_status in _EVENTS:
        kinds.append(_EVENTS[str(new_status)])
    elif _cents(new) > _cents(old):
        kinds.append(REFUNDED_EVENT)
    if new.get("disputed") is True and old.get("disputed") is not True:
        kinds.append(DISPUTED_EVENT)
    return kinds


def _cents(item: dict[str, object]) -> int:
    value = item.get("refunded_cents", 0)
    try:
        return int(value or 0)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def events_from_change(change: StreamChange) -> list[DomainEvent]:
    """An order change → its events: status paid / payment_failed / expired / refunded /
    refund_pending, a refund recorded (``order.refunded``), a dispute (``order.disputed``)."""
    if change.entity() != "order" or change.new is None:
        return []
    order = change.new
    events = []
    for event_type, recipient_fields in _kinds(order, change.old or {}):
        recipients = list(dict.fromkeys(str(order[f]) for f in recipient_fields if order.get(f)))
        events.append(
            event_from_change(
                change,
                event_type,
                occurred_at=str(order.get("updated_at") or iso_from_ms(change.approximate_ms)),
                recipients=recipients,
                data={
                    "order_id": order.get("order_id"),
                    "status": order.get("status"),
                    "buyer_id": order.get("buyer_id"),
                    "seller_id": order.get("seller_id"),
                    "stream_id": order.get("stream_id"),
                    "product_id": order.get("product_id"),
                    "quantity": order.get("quantity"),
                    "amount_cents": order.get("amount_cents"),
                    "currency": order.get("currency"),
                    "refunded_cents": _cents(order),
                    "refund_reason": order.get("refund_reason"),
                    "disputed": order.get("disputed") is True,
                },
            )
        )
    return events
