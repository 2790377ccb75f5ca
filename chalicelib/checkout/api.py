"""HTTP routes of the checkout domain: parse, call one logic function, shape the reply.

The routes are declared at import; the domain's logic, dal and models (pydantic, boto3, the
payment provider) are imported inside the handlers, on first use, so ``import app`` stays cheap
(cold start).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.clock import now_ms
from chalicelib.core.errors import PayloadTooLargeError, ValidationError
from chalicelib.core.observability import record_event
from chalicelib.core.routedoc import CURSOR, IDEMPOTENCY_KEY, LIMIT, Param
from chalicelib.core.settings import get_settings
from chalicelib.core.web import Api, ApiRequest, Reply

bp = Blueprint(__name__)
api = Api(bp)

ROLE = Param(
    "role",
    "query",
    {"type": "string", "enum": ["buyer", "seller"], "default": "buyer"},
    "`buyer` (default) or `seller`.",
    example="buyer",
)
STRIPE_SIGNATURE = Param(
    "Stripe-Signature",
    "header",
    {"type": "string", "minLength": 1, "maxLength": 8192},
    "Exactly as Stripe sends it: `t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`, each `v1` an "
    'HMAC-SHA256 of `"<t>.<raw body>"` keyed by an endpoint signing secret (one per active secret '
    "during a rotation; any match is valid, `v0` is ignored). Verified with the official `stripe` "
    "SDK, 300 s tolerance. Missing, malformed (non-ASCII, a non-decimal `t`, a non-hex `v1`), stale, "
    "wrong-secret or tampered → 400 `invalid_signature`.",
    required=True,
    example="t=1795000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
)
MAX_WEBHOOK_BODY = 64 * 1024


@api.route(
    "/v1/products",
    methods=["POST"],
    status=201,
    response="chalicelib.checkout.replies:Product",
    replies={201: "Created."},
    body="chalicelib.checkout.models:ProductCreate",
    example={"title": "Sneakers", "price_cents": 4999, "currency": "USD", "stock": 100},
)
def checkout_create_product(request: ApiRequest) -> dict[str, Any]:
    """Create a product (the caller is its seller)"""
    from chalicelib.checkout import catalog
    from chalicelib.checkout.dal import repository
    from chalicelib.checkout.models import ProductCreate

    product = catalog.create_product(repository(), request.user_id, request.body(ProductCreate), now_ms())
    record_event("product_created")
    return product


@api.route(
    "/v1/products/{product_id}",
    methods=["GET"],
    response="chalicelib.checkout.replies:Product",
    replies={200: "The product."},
    errors=(404,),
)
def checkout_get_product(request: ApiRequest, product_id: str) -> dict[str, Any]:
    """A product"""
    from chalicelib.checkout import catalog
    from chalicelib.checkout.dal import repository

    return catalog.get_product(repository(), product_id)


@api.route(
    "/v1/products/{product_id}",
    methods=["PATCH"],
    response="chalicelib.checkout.replies:Product",
    replies={200: "The product after the change."},
    errors=(403, 404),
    body="chalicelib.checkout.models:ProductPatch",
    example={"price_cents": 3999},
)
def checkout_patch_product(request: ApiRequest, product_id: str) -> dict[str, Any]:
    """Change title, price or stock (seller only)"""
    from chalicelib.checkout import catalog
    from chalicelib.checkout.dal import repository
    from chalicelib.checkout.models import ProductPatch

    body = request.body(ProductPatch)
    return catalog.patch_product(repository(), request.user_id, product_id, body, now_ms())


@api.route(
    "/v1/streams/{stream_id}/pins",
    methods=["POST"],
    status=201,
    response="chalicelib.live.replies:PinnedProduct",
    replies={201: "The pin."},
    errors=(403, 404, 409),
    body="chalicelib.checkout.models:PinCreate",
    example={
        "product_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN",
        "flash_stock": 100,
        "per_user_limit": 1,
        "expected_peak_orders_per_second": 2000,
    },
)
def checkout_create_pin(request: ApiRequest, stream_id: str) -> dict[str, Any]:
    """Pin one of the host's products on their live stream (flash sale)"""
    from chalicelib.checkout import catalog
    from chalicelib.checkout.dal import repository
    from chalicelib.checkout.models import PinCreate

    pin = catalog.create_pin(repository(), request.user_id, stream_id, request.body(PinCreate), now_ms())
    record_event("product_pinned")
    return pin


@api.route(
    "/v1/streams/{stream_id}/pins/{product_id}",
    methods=["DELETE"],
    errors=(403, 404, 409),
)
def checkout_delete_pin(request: ApiRequest, stream_id: str, product_id: str) -> None:
    """Unpin a product; unsold units return to it"""
    from chalicelib.checkout import catalog
    from chalicelib.checkout.dal import repository

    catalog.unpin(repository(), request.user_id, stream_id, product_id, now_ms())


@api.route(
    "/v1/streams/{stream_id}/orders",
    methods=["POST"],
    status=201,
    response="chalicelib.checkout.replies:Order",
    replies={201: "The order (a retry with the same key returns the original)."},
    errors=(404, 409, 422),
    body="chalicelib.checkout.models:OrderCreate",
    example={"product_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN", "quantity": 1},
    params=(IDEMPOTENCY_KEY,),
)
def checkout_place_order(request: ApiRequest, stream_id: str) -> Reply:
    """Buy a pinned product: reserves stock for 10 minutes and creates a payment intent

    The price is the pin's; any price field → 400. 409 `sold_out`, `limit_exceeded`, `stream_ended`,
    `pin_expired`. 503 `unavailable` with `Retry-After` when contention outlasts 3 in-request
    retries (retry with the same Idempotency-Key).
    """
    from chalicelib.checkout import orders
    from chalicelib.checkout.dal import repository
    from chalicelib.checkout.models import OrderCreate
    from chalicelib.checkout.payments import provider_from_settings

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


@api.route(
    "/v1/orders/{order_id}",
    methods=["GET"],
    response="chalicelib.checkout.replies:Order",
    replies={200: "The order (past its hold it reads `expired`)."},
    errors=(404,),
)
def checkout_get_order(request: ApiRequest, order_id: str) -> dict[str, Any]:
    """An order, for its buyer or seller"""
    from chalicelib.checkout import orders
    from chalicelib.checkout.dal import repository

    return orders.get_order(repository(), request.user_id, order_id, now_ms())


@api.route(
    "/v1/me/orders",
    methods=["GET"],
    response="chalicelib.checkout.replies:OrderPage",
    replies={200: "One page."},
    params=(ROLE, LIMIT, CURSOR),
)
def checkout_list_my_orders(request: ApiRequest) -> dict[str, Any]:
    """The caller's orders as buyer or seller, newest first"""
    from chalicelib.checkout import orders
    from chalicelib.checkout.dal import repository

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


@api.route(
    "/v1/orders/{order_id}/cancel",
    methods=["POST"],
    response="chalicelib.checkout.replies:Order",
    replies={200: "The cancelled order."},
    errors=(403, 404, 409),
)
def checkout_cancel_order(request: ApiRequest, order_id: str) -> dict[str, Any]:
    """The buyer cancels a pending order; its units go back on sale"""
    from chalicelib.checkout import orders
    from chalicelib.checkout.dal import repository
    from chalicelib.checkout.payments import provider_from_settings

    order = orders.cancel_order(
        repository(), provider_from_settings(get_settings()), request.user_id, order_id, now_ms()
    )
    record_event("order_cancelled")
    return order


@api.route(
    "/v1/orders/{order_id}/refund",
    methods=["POST"],
    response="chalicelib.checkout.replies:Order",
    replies={200: "The refunded order (a repeat returns it unchanged)."},
    errors=(403, 404, 409),
)
def checkout_refund_order(request: ApiRequest, order_id: str) -> dict[str, Any]:
    """The seller refunds a paid (or refund_pending) order in full

    Only `paid` and `refund_pending` orders can be refunded (else 409 `conflict`). No stock goes
    back on sale.
    """
    from chalicelib.checkout import orders
    from chalicelib.checkout.dal import repository
    from chalicelib.checkout.payments import provider_from_settings

    order = orders.refund_order(
        repository(), provider_from_settings(get_settings()), request.user_id, order_id, now_ms()
    )
    record_event("order_refunded")
    return order


@api.route(
    "/v1/payments/webhook",
    methods=["POST"],
    auth=False,
    response="chalicelib.checkout.replies:WebhookResult",
    replies={
        200: "Acknowledged; each event id is applied once. Unknown types, unknown orders and intents that "
        "are not the order's → `ignored` (nothing changes, Stripe stops retrying)."
    },
    errors=(400, 413),
    body="chalicelib.checkout.replies:WebhookEvent",
    example={
        "id": "evt_1PqRsT2eZvKYlo2C0a1b2c3d",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1795000000,
        "livemode": False,
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": "pi_3PqRsT2eZvKYlo2C1a2b3c4d",
                "object": "payment_intent",
                "amount": 999,
                "amount_received": 999,
                "currency": "eur",
                "metadata": {"order_id": "01JDQ3Z5XG8V0M6K2T1R9YB4CN"},
                "status": "succeeded",
            }
        },
    },
    params=(STRIPE_SIGNATURE,),
)
def checkout_payment_webhook(request: ApiRequest) -> dict[str, Any]:
    """Stripe webhook events (no JWT: authenticated by `Stripe-Signature`)"""
    import time

    from chalicelib.checkout import stripe_events, webhooks
    from chalicelib.checkout.dal import repository
    from chalicelib.checkout.payments import provider_from_settings

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
