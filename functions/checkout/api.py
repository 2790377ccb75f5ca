"""HTTP routes of the checkout domain: parse, call one logic function, shape the reply.

The routes are declared at import; the domain's logic, dal and models (pydantic, boto3, the
payment provider) are imported inside the handlers, on first use, so ``import app`` stays cheap
(cold start).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from functions.core.clock import now_ms
from functions.core.errors import PayloadTooLargeError, ValidationError
from functions.core.observability import record_event
from functions.core.settings import get_settings
from functions.core.web import Api, ApiRequest, Reply

bp = Blueprint(__name__)
api = Api(bp)
MAX_WEBHOOK_BODY = 64 * 1024


@api.route("/v1/products", methods=["POST"], status=201)
def checkout_create_product(request: ApiRequest) -> dict[str, Any]:
    """Create a product (the caller is its seller)."""
    from functions.checkout import catalog
    from functions.checkout.dal import repository
    from functions.checkout.models import ProductCreate

    product = catalog.create_product(repository(), request.user_id, request.body(ProductCreate), now_ms())
    record_event("product_created")
    return product


@api.route("/v1/products/{product_id}", methods=["GET"])
def checkout_get_product(request: ApiRequest, product_id: str) -> dict[str, Any]:
    """A product."""
    from functions.checkout import catalog
    from functions.checkout.dal import repository

    return catalog.get_product(repository(), product_id)


@api.route("/v1/products/{product_id}", methods=["PATCH"])
def checkout_patch_product(request: ApiRequest, product_id: str) -> dict[str, Any]:
    """Seller-only change of title, price or stock."""
    from functions.checkout import catalog
    from functions.checkout.dal import repository
    from functions.checkout.models import ProductPatch

    body = request.body(ProductPatch)
    return catalog.patch_product(repository(), request.user_id, product_id, body, now_ms())


@api.route("/v1/streams/{stream_id}/pins", methods=["POST"], status=201)
def checkout_create_pin(request: ApiRequest, stream_id: str) -> dict[str, Any]:
    """The host pins one of their products on their live stream."""
    from functions.checkout import catalog
    from functions.checkout.dal import repository
    from functions.checkout.models import PinCreate

    pin = catalog.create_pin(repository(), request.user_id, stream_id, request.body(PinCreate), now_ms())
    record_event("product_pinned")
    return pin


@api.route("/v1/streams/{stream_id}/pins/{product_id}", methods=["DELETE"])
def checkout_delete_pin(request: ApiRequest, stream_id: str, product_id: str) -> None:
    """The host unpins a product; unsold units return to the product."""
    from functions.checkout import catalog
    from functions.checkout.dal import repository

    catalog.unpin(repository(), request.user_id, stream_id, product_id, now_ms())


@api.route("/v1/streams/{stream_id}/orders", methods=["POST"], status=201)
def checkout_place_order(request: ApiRequest, stream_id: str) -> Reply:
    """Buy a pinned product: 201 with the order and its payment intent (also on a replay)."""
    from functions.checkout import orders
    from functions.checkout.dal import repository
    from functions.checkout.models import OrderCreate
    from functions.checkout.payments import provider_from_settings

    idem_key = request.idempotency_key()
    body = request.body(OrderCreate)
    order = orders.place_order(
        repository(),
        provider_from_settings(get_settings()),
        buyer_id=request.user_id,
        stream_id=stream_id,
        body=body,
        idem_key=idem_key,
        now_ms=now_ms(),
    )
    record_event("order_placed")
    return Reply(order, status=201)


@api.route("/v1/orders/{order_id}", methods=["GET"])
def checkout_get_order(request: ApiRequest, order_id: str) -> dict[str, Any]:
    """An order, for its buyer or seller."""
    from functions.checkout import orders
    from functions.checkout.dal import repository

    return orders.get_order(repository(), request.user_id, order_id, now_ms())


@api.route("/v1/me/orders", methods=["GET"])
def checkout_list_my_orders(request: ApiRequest) -> dict[str, Any]:
    """The caller's orders: ``?role=buyer`` (default) or ``?role=seller``."""
    from functions.checkout import orders
    from functions.checkout.dal import repository

    role = request.query("role") or "buyer"
    if role not in ("buyer", "seller"):
        raise ValidationError("role must be buyer or seller.")
    page = request.page()
    return orders.list_orders(
        repository(),
        request.user_id,
        "buyer" if role == "buyer" else "seller",
        page.limit,
        page.cursor,
        get_settings().cursor_secret,
        now_ms(),
    )


@api.route("/v1/orders/{order_id}/cancel", methods=["POST"])
def checkout_cancel_order(request: ApiRequest, order_id: str) -> dict[str, Any]:
    """The buyer cancels a pending order; its units go back on sale."""
    from functions.checkout import orders
    from functions.checkout.dal import repository
    from functions.checkout.payments import provider_from_settings

    order = orders.cancel_order(
        repository(), provider_from_settings(get_settings()), request.user_id, order_id, now_ms()
    )
    record_event("order_cancelled")
    return order


@api.route("/v1/orders/{order_id}/refund", methods=["POST"])
def checkout_refund_order(request: ApiRequest, order_id: str) -> dict[str, Any]:
    """The seller refunds a paid (or refund_pending) order in full; a repeat returns it."""
    from functions.checkout import orders
    from functions.checkout.dal import repository
    from functions.checkout.payments import provider_from_settings

    order = orders.refund_order(
        repository(), provider_from_settings(get_settings()), request.user_id, order_id, now_ms()
    )
    record_event("order_refunded")
    return order


@api.route("/v1/payments/webhook", methods=["POST"], auth=False)
def checkout_payment_webhook(request: ApiRequest) -> dict[str, Any]:
    """Stripe events, authenticated by ``Stripe-Signature`` (no JWT)."""
    import time

    from functions.checkout import stripe_events, webhooks
    from functions.checkout.dal import repository
    from functions.checkout.payments import provider_from_settings

    raw: bytes = request.raw.raw_body or b""
    if len(raw) > MAX_WEBHOOK_BODY:
        raise PayloadTooLargeError(f"The request body exceeds {MAX_WEBHOOK_BODY} bytes.")
    settings = get_settings()
    result = webhooks.handle_webhook(
        repository(),
        provider_from_settings(settings),
        stripe_events.secrets_of(settings.payment_webhook_secret),
        request.header("Stripe-Signature"),
        raw,
        now_ms(),
        int(time.time()),  # the clock the SDK checks the signature's timestamp against
    )
    record_event(f"payment_{result['result']}")
    return result
