"""Checkout over HTTP: products, pins, orders, payments, expiry (chalice test client + moto)."""

from __future__ import annotations

from typing import Any

from tests.conftest import ApiClient, body_of
from tests.integration.checkout.conftest import (
    Clock,
    Sale,
    create_product,
    order,
    pin,
    remaining,
    start_stream,
    webhook,
)

TEN_MINUTES = 10 * 60 * 1000


def sweep(api: ApiClient) -> object:
    """Fire the every-minute schedule as EventBridge would."""
    event = api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    return api.client.lambda_.invoke("checkout_expire_orders", event).payload


def test_a_viewer_buys_a_pinned_product_and_pays(api: ApiClient, sale: Sale, clock: Clock) -> None:
    # Given 5 pinned units shown on the stream
    assert remaining(api, sale) == 5
    # When a viewer orders 2
    response = order(api, sale, "vic", 2, key="k-1")
    # Then a pending order priced by the server holds them for 10 minutes
    assert response.status_code == 201
    placed = body_of(response)
    assert placed["status"] == "pending_payment"
    assert {k: placed[k] for k in ("buyer_id", "seller_id", "stream_id", "product_id", "quantity")} == {
        "buyer_id": "vic", "seller_id": "hana", "stream_id": sale.stream_id,
        "product_id": sale.product_id, "quantity": 2,
    }  # fmt: skip
    assert (placed["unit_price_cents"], placed["amount_cents"], placed["currency"]) == (999, 1998, "EUR")
    assert placed["payment"]["provider"] == "simulator" and placed["payment"]["client_secret"]
    from chalicelib.core.clock import iso_from_ms

    assert placed["expires_at"] == iso_from_ms(clock() + TEN_MINUTES)
    assert remaining(api, sale) == 3

    # When the provider confirms the payment
    paid = webhook(api, clock, placed)
    # Then the order is paid, for buyer and seller alike
    assert paid.status_code == 200 and body_of(paid)["result"] == "paid"
    assert body_of(api.get(f"/v1/orders/{placed['order_id']}", user="vic"))["status"] == "paid"
    seller_view = body_of(api.get(f"/v1/orders/{placed['order_id']}", user="hana"))
    assert seller_view["status"] == "paid" and seller_view["payment"]["client_secret"] is None
    # And a repeated delivery changes nothing
    again = webhook(api, clock, placed)
    assert again.status_code == 200 and body_of(again)["result"] in ("duplicate", "ignored")
    assert remaining(api, sale) == 3


def test_a_retried_order_returns_the_original_and_a_changed_body_is_refused(
    api: ApiClient, sale: Sale
) -> None:
    first = order(api, sale, "vic", 1, key="same")
    retry = order(api, sale, "vic", 1, key="same")
    assert retry.status_code == 201 and body_of(retry) == body_of(first)
    changed = order(api, sale, "vic", 2, key="same")
    assert changed.status_code == 422 and body_of(changed)["code"] == "idempotency_key_reused"
    assert remaining(api, sale) == 4
    listed = body_of(api.get("/v1/me/orders?role=buyer", user="vic"))
    assert [o["order_id"] for o in listed["items"]] == [body_of(first)["order_id"]]


BAD_ORDERS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "price": ({"quantity": 1, "price_cents": 1}, {"Idempotency-Key": "k"}),
    "unit-price": ({"quantity": 1, "unit_price_cents": 1}, {"Idempotency-Key": "k"}),
    "zero": ({"quantity": 0}, {"Idempotency-Key": "k"}),
    "eleven": ({"quantity": 11}, {"Idempotency-Key": "k"}),
    "string": ({"quantity": "1"}, {"Idempotency-Key": "k"}),
    "no-key": ({"quantity": 1}, {}),
}


def test_bad_order_requests_are_400_and_reserve_nothing(api: ApiClient, sale: Sale) -> None:
    for case, (body, headers) in BAD_ORDERS.items():
        # When the request carries a price, a bad quantity or no Idempotency-Key
        response = api.post(
            f"/v1/streams/{sale.stream_id}/orders",
            {"product_id": sale.product_id, **body},
            user="vic",
            headers=headers,
        )
        # Then it is a 400 validation error
        assert (response.status_code, body_of(response)["code"]) == (400, "validation_error"), case
    # And nothing was reserved
    assert remaining(api, sale) == 5
    malformed = api.request(
        "POST",
        f"/v1/streams/{sale.stream_id}/orders",
        raw="{nope",
        user="vic",
        headers={"Idempotency-Key": "k"},
    )
    assert malformed.status_code == 400


def test_refusals_sold_out_limit_not_pinned_and_ended(api: ApiClient, sale: Sale) -> None:
    # Given the per-buyer limit of 2
    assert order(api, sale, "vic", 2).status_code == 201
    over = order(api, sale, "vic", 1)
    assert (over.status_code, body_of(over)["code"]) == (409, "limit_exceeded")
    # Given 3 left, 4 cannot be bought
    assert order(api, sale, "ann", 2).status_code == 201
    sold_out = order(api, sale, "bob", 2)
    assert (sold_out.status_code, body_of(sold_out)["code"]) == (409, "sold_out")
    # A product not pinned here is 404
    other = Sale(sale.stream_id, "01NOTPINNED")
    assert order(api, other, "bob").status_code == 404
    # After the host ends the stream nobody can buy
    assert api.post(f"/v1/streams/{sale.stream_id}/end", user="hana").status_code == 200
    ended = order(api, sale, "cat")
    assert (ended.status_code, body_of(ended)["code"]) == (409, "stream_ended")


def test_a_timed_pin_expires(api: ApiClient, clock: Clock) -> None:
    stream_id = start_stream(api, "hana")
    product_id = create_product(api, "hana")
    created = pin(api, "hana", stream_id, product_id, duration_seconds=10)
    assert created.status_code == 201 and body_of(created)["ends_at"]
    clock.advance(10_000)
    response = order(api, Sale(stream_id, product_id), "vic")
    assert (response.status_code, body_of(response)["code"]) == (409, "pin_expired")


def test_unpaid_orders_expire_on_read_and_the_sweeper_returns_the_stock(
    api: ApiClient, sale: Sale, clock: Clock
) -> None:
    # Given an order left unpaid for 10 minutes
    placed = body_of(order(api, sale, "vic", 2))
    clock.advance(TEN_MINUTES)
    # Then it already reads as expired, though its units are still held
    assert body_of(api.get(f"/v1/orders/{placed['order_id']}", user="vic"))["status"] == "expired"
    assert remaining(api, sale) == 3
    # When the scheduled sweeper runs (twice)
    assert sweep(api) == {"expired": 1, "refunded": 0}
    assert sweep(api) == {"expired": 0, "refunded": 0}
    # Then the units are back exactly once
    assert remaining(api, sale) == 5
    assert body_of(api.get(f"/v1/orders/{placed['order_id']}", user="vic"))["status"] == "expired"


def test_a_late_payment_re_reserves_or_is_refunded(api: ApiClient, sale: Sale, clock: Clock) -> None:
    # Given two orders (2 units and 1 unit) that expired unpaid
    big = body_of(order(api, sale, "vic", 2))
    small = body_of(order(api, sale, "dan", 1))
    clock.advance(TEN_MINUTES)
    sweep(api)
    # And others then bought 4 of the 5 units
    assert order(api, sale, "ann", 2).status_code == 201
    assert order(api, sale, "bob", 2).status_code == 201
    # When both late payments arrive
    # Then the 1-unit order re-reserves the last unit, the 2-unit one is refunded at once
    assert body_of(webhook(api, clock, small))["result"] == "paid"
    assert body_of(webhook(api, clock, big))["result"] == "refunded"
    shown = body_of(api.get(f"/v1/orders/{big['order_id']}", user="vic"))
    assert (shown["status"], shown["refund_reason"], shown["refunded_cents"]) == (
        "refunded",
        "late_payment",
        1998,
    )
    assert remaining(api, sale) == 0


def test_a_failed_payment_returns_the_stock(api: ApiClient, sale: Sale, clock: Clock) -> None:
    placed = body_of(order(api, sale, "vic", 2))
    response = webhook(api, clock, placed, "failed")
    assert response.status_code == 200
    assert body_of(api.get(f"/v1/orders/{placed['order_id']}", user="vic"))["status"] == "payment_failed"
    assert remaining(api, sale) == 5


def test_a_bad_webhook_signature_is_400_and_changes_nothing(api: ApiClient, sale: Sale, clock: Clock) -> None:
    import time

    from chalicelib.checkout.webhooks import sign

    # Given a pending order
    placed = body_of(order(api, sale, "vic", 1))
    cases = {
        "bad-secret": {"secret": "whsec_wrong_secret"},
        "stale": {"signature": sign("whsec_test_secret", int(time.time()) - 301, b"{}")},
        "garbage": {"signature": "t=1,v1=zz"},
        "missing": {"signature": " "},
        "superscript-t": {"signature": "t=²,v1=" + "0" * 64},
        "non-hex-v1": {"signature": f"t={int(time.time())},v1={'xy' * 32}"},
        "non-ascii": {"signature": f"t={int(time.time())},v1=\u00e9\u00e9"},
    }
    for case, kwargs in cases.items():
        # When a success event arrives with a bad signature
        response = webhook(api, clock, placed, **kwargs)
        # Then it is refused
        assert (response.status_code, body_of(response)["code"]) == (400, "invalid_signature"), case
    # And the order is untouched
    assert body_of(api.get(f"/v1/orders/{placed['order_id']}", user="vic"))["status"] == "pending_payment"


def test_orders_are_private_and_only_the_buyer_cancels(api: ApiClient, sale: Sale) -> None:
    placed = body_of(order(api, sale, "vic", 2))
    path = f"/v1/orders/{placed['order_id']}"
    assert api.get(path, user="eve").status_code == 404
    assert api.post(f"{path}/cancel", user="eve").status_code == 404
    assert api.post(f"{path}/cancel", user="hana").status_code == 403
    cancelled = api.post(f"{path}/cancel", user="vic")
    assert cancelled.status_code == 200 and body_of(cancelled)["status"] == "cancelled"
    assert remaining(api, sale) == 5
    again = api.post(f"{path}/cancel", user="vic")
    assert again.status_code == 409
    assert remaining(api, sale) == 5


def test_sellers_list_their_sales_page_by_page(api: ApiClient, sale: Sale) -> None:
    ids = [body_of(order(api, sale, buyer))["order_id"] for buyer in ("a1", "a2", "a3")]
    first = body_of(api.get("/v1/me/orders?role=seller&limit=2", user="hana"))
    rest = body_of(api.get(f"/v1/me/orders?role=seller&limit=2&cursor={first['next_cursor']}", user="hana"))
    assert [o["order_id"] for o in first["items"] + rest["items"]] == sorted(ids, reverse=True)
    assert rest["next_cursor"] is None
    foreign = api.get(f"/v1/me/orders?role=buyer&cursor={first['next_cursor']}", user="hana")
    assert foreign.status_code == 400 and body_of(foreign)["code"] == "invalid_cursor"
    assert api.get("/v1/me/orders?role=admin", user="hana").status_code == 400


def test_products_belong_to_their_seller(api: ApiClient) -> None:
    created = api.post(
        "/v1/products", {"title": "Hat", "price_cents": 500, "currency": "USD", "stock": 3}, user="sam"
    )
    assert created.status_code == 201
    product = body_of(created)
    assert {k: product[k] for k in ("seller_id", "title", "price_cents", "currency", "stock")} == {
        "seller_id": "sam", "title": "Hat", "price_cents": 500, "currency": "USD", "stock": 3,
    }  # fmt: skip
    path = f"/v1/products/{product['product_id']}"
    assert body_of(api.get(path, user="ann"))["title"] == "Hat"
    assert api.patch(path, {"price_cents": 1}, user="ann").status_code == 403
    patched = api.patch(path, {"price_cents": 450, "stock": 7}, user="sam")
    assert (patched.status_code, body_of(patched)["price_cents"], body_of(patched)["stock"]) == (200, 450, 7)
    assert api.get("/v1/products/01NOPE", user="ann").status_code == 404


BAD_PRODUCTS = {
    "empty-title": {"title": "", "price_cents": 1, "currency": "USD", "stock": 1},
    "long-title": {"title": "x" * 201, "price_cents": 1, "currency": "USD", "stock": 1},
    "zero-price": {"title": "Hat", "price_cents": 0, "currency": "USD", "stock": 1},
    "bad-currency": {"title": "Hat", "price_cents": 1, "currency": "XXQ", "stock": 1},
    "negative-stock": {"title": "Hat", "price_cents": 1, "currency": "USD", "stock": -1},
    "mass-assignment": {"title": "Hat", "price_cents": 1, "currency": "USD", "stock": 1, "seller_id": "x"},
}


def test_bad_products_are_400(api: ApiClient) -> None:
    for case, body in BAD_PRODUCTS.items():
        response = api.post("/v1/products", body, user="sam")
        assert (response.status_code, body_of(response)["code"]) == (400, "validation_error"), case
    assert body_of(api.get("/v1/me/orders?role=seller", user="sam"))["items"] == []


def test_pinning_rules_and_the_pinned_chat_message(api: ApiClient, clock: Clock) -> None:
    stream_id = start_stream(api, "hana")
    product_id = create_product(api, "hana", stock=4)
    # Only the host, with her own product, within stock
    assert pin(api, "eve", stream_id, product_id).status_code == 403
    foreign = create_product(api, "eve")
    assert pin(api, "hana", stream_id, foreign).status_code == 403
    too_many = pin(api, "hana", stream_id, product_id, flash_stock=5)
    assert (too_many.status_code, body_of(too_many)["code"]) == (409, "insufficient_stock")
    assert pin(api, "hana", stream_id, product_id, per_user_limit=11).status_code == 400
    # The default takes all stock and posts a product_pinned message in the chat
    created = pin(api, "hana", stream_id, product_id)
    assert created.status_code == 201 and body_of(created)["remaining"] == 4
    assert body_of(api.get(f"/v1/products/{product_id}", user="hana"))["stock"] == 0
    assert _pinned_messages(stream_id) == [
        {"product_id": product_id, "title": "Mug", "price_cents": 1500, "currency": "EUR",
         "remaining": 4, "ends_at": None},
    ]  # fmt: skip
    # Unpinning returns the unsold units and hides the pin
    assert api.delete(f"/v1/streams/{stream_id}/pins/{product_id}", user="eve").status_code == 403
    assert api.delete(f"/v1/streams/{stream_id}/pins/{product_id}", user="hana").status_code == 204
    assert body_of(api.get(f"/v1/products/{product_id}", user="hana"))["stock"] == 4
    assert body_of(api.get(f"/v1/streams/{stream_id}", user="v"))["pinned"] == []


def test_the_pinned_product_message_is_a_live_chat_item_that_expires_like_other_chat(
    api: ApiClient, clock: Clock
) -> None:
    # Given a host pins a product on her stream
    from chalicelib.live.chat import CHAT_MESSAGE_TTL_SECONDS, SYSTEM_SHARD

    stream_id = start_stream(api, "hana")
    product_id = create_product(api, "hana", stock=2)
    assert pin(api, "hana", stream_id, product_id).status_code == 201
    # When the chat's system shard is read
    (item,) = [i for i in _shard_items(stream_id) if i.get("type") == "product_pinned"]
    # Then the message carries live's shard field and the 30-day TTL of every chat message
    assert item["entity"] == "chat_message" and item["shard"] == SYSTEM_SHARD
    assert item["ttl"] == clock.ms // 1000 + CHAT_MESSAGE_TTL_SECONDS
    assert item["sender_id"] == "hana" and item["product"]["product_id"] == product_id


def _shard_items(stream_id: str) -> list[dict[str, Any]]:
    from chalicelib.core import clients, keys
    from chalicelib.core.ddb import deserialize, values
    from chalicelib.core.settings import get_settings

    out = clients.dynamodb().query(
        TableName=get_settings().table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=values(pk=keys.chat_shard_pk(stream_id, 0)),
    )
    return [deserialize(i) or {} for i in out["Items"]]


def _pinned_messages(stream_id: str) -> list[dict[str, object]]:
    from chalicelib.core import clients, keys
    from chalicelib.core.ddb import deserialize, values
    from chalicelib.core.settings import get_settings

    out = clients.dynamodb().query(
        TableName=get_settings().table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=values(pk=keys.chat_shard_pk(stream_id, 0)),
    )
    items = [deserialize(i) or {} for i in out["Items"]]
    return [i["product"] for i in items if i.get("type") == "product_pinned"]
