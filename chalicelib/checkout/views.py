"""How checkout records look to clients."""

from __future__ import annotations

from typing import Any

from chalicelib.checkout.models import Order, Pin, Product
from chalicelib.core.clock import iso_from_ms


def product_view(product: Product) -> dict[str, Any]:
    """``{"product_id", "seller_id", "title", "price_cents", "currency", "stock", ...}``."""
    return {
        "product_id": product.product_id,
        "seller_id": product.seller_id,
        "title": product.title,
        "price_cents": product.price_cents,
        "currency": product.currency,
        "stock": product.stock,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
    }


def pin_view(pin: Pin) -> dict[str, Any]:
    """A pin as the host and viewers see it."""
    return {
        "stream_id": pin.stream_id,
        "product_id": pin.product_id,
        "pin_id": pin.pin_id,
        "seller_id": pin.seller_id,
        "title": pin.title,
        "price_cents": pin.unit_price_cents,
        "list_price_cents": pin.price_cents,
        "flash_price_cents": pin.flash_price_cents,
        "currency": pin.currency,
        "per_user_limit": pin.per_user_limit,
        "pinned": pin.pinned,
        "remaining": pin.remaining,
        "sold_out": pin.sold_out or pin.remaining == 0,
        "stock_shards": pin.shards,
        "expected_peak_orders_per_second": pin.expected_peak_orders_per_second,
        "ends_at": iso_from_ms(pin.ends_at_ms) if pin.ends_at_ms is not None else None,
        "status": pin.status,
        "created_at": pin.created_at,
    }


def order_view(order: Order, caller: str, now_ms: int) -> dict[str, Any]:
    """An order for its buyer or seller; only the buyer sees the payment's client secret."""
    return {
        "order_id": order.order_id,
        "status": order.effective_status(now_ms),
        "buyer_id": order.buyer_id,
        "seller_id": order.seller_id,
        "stream_id": order.stream_id,
        "product_id": order.product_id,
        "quantity": order.quantity,
        "unit_price_cents": order.unit_price_cents,
        "amount_cents": order.amount_cents,
        "currency": order.currency,
        "expires_at": iso_from_ms(order.expires_at_ms),
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "refunded_cents": order.refunded_cents,
        "refund_reason": order.refund_reason,
        "disputed": order.disputed,
        "payment": {
            "provider": order.payment.provider,
            "payment_intent_id": order.payment.payment_intent_id,
            "client_secret": order.payment.client_secret if caller == order.buyer_id else None,
        },
    }
