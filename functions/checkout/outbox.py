"""Outbox mapping for the checkout domain: committed table changes → domain events."""

from __future__ import annotations

from functions.core.clock import iso_from_ms
from functions.core.domain_events import DomainEvent, stable_event_id
from functions.core.streams import StreamChange

# New order status → (event type, who is told).
_EVENTS = {
    "paid": ("order.paid", ("buyer_id", "seller_id")),
    "payment_failed": ("order.payment_failed", ("buyer_id",)),
    "expired": ("order.expired", ("buyer_id",)),
    "refunded": ("order.refunded", ("buyer_id",)),
}


def events_from_change(change: StreamChange) -> list[DomainEvent]:
    """An order whose status changed to paid / payment_failed / expired / refunded → one event."""
    if change.entity() != "order" or change.new is None:
        return []
    new_status = change.new.get("status")
    old_status = (change.old or {}).get("status")
    if new_status == old_status or new_status not in _EVENTS:
        return []
    event_type, recipient_fields = _EVENTS[str(new_status)]
    order = change.new
    recipients = list(dict.fromkeys(str(order[f]) for f in recipient_fields if order.get(f)))
    pk, sk = str(change.keys.get("pk", "")), str(change.keys.get("sk", ""))
    return [
        DomainEvent(
            event_id=stable_event_id(event_type, pk, sk, change.sequence_number),
            type=event_type,
            occurred_at=str(order.get("updated_at") or iso_from_ms(change.approximate_ms)),
            actor_id=None,
            recipient_ids=recipients,
            data={
                "order_id": order.get("order_id"),
                "status": new_status,
                "buyer_id": order.get("buyer_id"),
                "seller_id": order.get("seller_id"),
                "stream_id": order.get("stream_id"),
                "product_id": order.get("product_id"),
                "quantity": order.get("quantity"),
                "amount_cents": order.get("amount_cents"),
                "currency": order.get("currency"),
            },
        )
    ]
