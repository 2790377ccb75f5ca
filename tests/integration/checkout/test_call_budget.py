"""The performance budget of placing and refunding an order, counted on the wire (botocore events)."""

from __future__ import annotations

import pytest

from tests.conftest import ApiClient, body_of
from tests.integration.checkout.conftest import (
    Clock,
    Sale,
    create_product,
    order,
    pin,
    start_stream,
    webhook,
)


def test_an_order_costs_two_calls_and_a_sold_out_attempt_writes_nothing(
    api: ApiClient, clock: Clock, calls: list[str]
) -> None:
    # Given a pin with a single unit
    stream_id = start_stream(api, "hana")
    product_id = create_product(api, "hana", stock=1)
    assert pin(api, "hana", stream_id, product_id).status_code == 201
    sale = Sale(stream_id, product_id)
    for buyer in ("vic", "ann", "bob", "cat"):  # warm: activity stamps and the deleted-account cache
        api.get("/v1/me", user=buyer)
    # When a buyer takes it
    calls.clear()
    assert order(api, sale, "vic").status_code == 201
    # Then that was one read (with the buyer's home shard) and one transaction
    assert calls == ["BatchGetItem", "TransactWriteItems"]
    for buyer in ("ann", "bob", "cat", "dan"):
        api.get("/v1/me", user=buyer)  # warm: their once-a-minute activity stamps are written
    # When the next buyer finds the home shard empty
    calls.clear()
    refused = order(api, sale, "ann")
    assert (refused.status_code, body_of(refused)["code"]) == (409, "sold_out")
    # Then one read of all shards found every one empty, one transaction sealed them, the
    # sealer set the pin's sold-out flag (once per sale), and one read of the buyer's
    # idempotency record made sure no twin of this request took a unit after the first read
    assert calls == ["BatchGetItem", "BatchGetItem", "TransactWriteItems", "UpdateItem", "GetItem"]
    # When others try after that
    calls.clear()
    for buyer in ("bob", "cat", "dan"):
        refused = order(api, sale, buyer)
        assert (refused.status_code, body_of(refused)["code"]) == (409, "sold_out")
    # Then each was refused from its first read alone, without a write
    assert calls == ["BatchGetItem"] * 3


def test_a_refund_costs_a_read_and_a_transaction_and_a_repeat_only_the_read(
    api: ApiClient, sale: Sale, clock: Clock, calls: list[str]
) -> None:
    # Given a paid order
    placed = body_of(order(api, sale, "vic"))
    assert body_of(webhook(api, clock, placed))["result"] == "paid"
    path = f"/v1/orders/{placed['order_id']}/refund"
    # When the seller refunds it
    calls.clear()
    refunded = api.post(path, user="hana")
    # Then that was one read and one transaction (the reply is what was written: no read-back)
    assert body_of(refunded)["status"] == "refunded"
    assert calls == ["GetItem", "TransactWriteItems"]
    # When the seller repeats it
    calls.clear()
    again = api.post(path, user="hana")
    # Then the order as read is the answer (refunded is final)
    assert body_of(again) == body_of(refunded)
    assert calls == ["GetItem"]


@pytest.mark.parametrize("kind", ["succeeded", "failed"])
def test_a_payment_webhook_costs_one_read_and_one_transaction(
    api: ApiClient, sale: Sale, clock: Clock, calls: list[str], kind: str
) -> None:
    # Given a pending order
    placed = body_of(order(api, sale, "vic"))
    # When Stripe reports its payment succeeded (or failed)
    calls.clear()
    response = webhook(api, clock, placed, kind)
    # Then that was one read and one transaction
    assert body_of(response)["result"] in ("paid", "payment_failed")
    assert calls == ["GetItem", "TransactWriteItems"]


def test_an_automatic_refund_adds_one_transaction(api: ApiClient, clock: Clock, calls: list[str]) -> None:
    # Given an order that expired and whose only unit someone else bought
    stream_id = start_stream(api, "hana")
    product_id = create_product(api, "hana", stock=1)
    assert pin(api, "hana", stream_id, product_id).status_code == 201
    sale = Sale(stream_id, product_id)
    late = body_of(order(api, sale, "vic"))
    clock.advance(10 * 60 * 1000)
    event = api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    api.client.lambda_.invoke("checkout_expire_orders", event)
    assert order(api, sale, "ann").status_code == 201
    # When vic's payment succeeds late
    calls.clear()
    response = webhook(api, clock, late)
    # Then: the read, the refused re-reservation, (the provider refund), the refund transaction
    assert body_of(response)["result"] == "refunded"
    assert calls == ["GetItem", "TransactWriteItems", "TransactWriteItems"]


def test_a_seller_listing_page_costs_a_product_check_33_queries_and_one_batch_get(
    api: ApiClient, sale: Sale, calls: list[str]
) -> None:
    # Given a seller with 3 orders (pointers in up to 3 of the 32 partitions)
    for buyer in ("vic", "ann", "bob"):
        assert order(api, sale, buyer).status_code == 201
    api.get("/v1/me", user="hana")  # warm: activity stamp and the deleted-account cache
    # When the seller reads a page of their sales
    calls.clear()
    page = body_of(api.get("/v1/me/orders?role=seller&limit=2", user="hana"))
    # Then one Query found a product, every pointer partition (32 shards + the legacy
    # USER#hana) was queried once, and the page's orders read in one batch
    assert len(page["items"]) == 2 and page["next_cursor"]
    assert sorted(calls) == ["BatchGetItem"] + ["Query"] * 34


def test_a_user_who_never_listed_a_product_has_no_sales_for_one_query(
    api: ApiClient, sale: Sale, calls: list[str]
) -> None:
    # Given a buyer who has ordered but never listed a product
    assert order(api, sale, "vic").status_code == 201
    api.get("/v1/me", user="vic")
    # When they open their sales
    calls.clear()
    page = body_of(api.get("/v1/me/orders?role=seller", user="vic"))
    # Then the page is empty after one Query (no product → no sale pointer anywhere)
    assert page == {"items": [], "next_cursor": None}
    assert calls == ["Query"]


def test_the_sweeper_with_nothing_due_costs_33_queries(
    api: ApiClient, clock: Clock, calls: list[str]
) -> None:
    # Given nothing pending or refund_pending is due
    event = api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    # When the sweeper runs
    calls.clear()
    api.client.lambda_.invoke("checkout_expire_orders", event)
    # Then it read each of the 32 pending buckets and the refund_pending list once
    assert calls == ["Query"] * 33
