"""The performance budget of placing and refunding an order, counted on the wire (botocore events)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


@pytest.fixture
def calls(aws: dict[str, str]) -> Iterator[list[str]]:
    """Names of the DynamoDB operations sent while the test runs."""
    from functions.core import clients

    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        seen.append(model.name)

    events = clients.dynamodb().meta.events
    events.register("before-call.dynamodb", record)
    yield seen
    events.unregister("before-call.dynamodb", record)


def test_an_order_costs_two_calls_and_a_sold_out_attempt_writes_nothing(
    api: ApiClient, clock: Clock, calls: list[str]
) -> None:
    # Given a pin with a single unit
    stream_id = start_stream(api, "hana")
    product_id = create_product(api, "hana", stock=1)
    assert pin(api, "hana", stream_id, product_id).status_code == 201
    sale = Sale(stream_id, product_id)
    for buyer in ("vic", "ann", "bob", "cat"):  # seen recently by the container (deleted-account cache)
        api.get("/v1/me", user=buyer)
    # When a buyer takes it
    calls.clear()
    assert order(api, sale, "vic").status_code == 201
    # Then that was one read and one transaction
    assert calls == ["BatchGetItem", "TransactWriteItems"]
    # When others try after it sold out
    calls.clear()
    for buyer in ("ann", "bob", "cat"):
        refused = order(api, sale, buyer)
        assert (refused.status_code, body_of(refused)["code"]) == (409, "sold_out")
    # Then each was refused from its read alone, without a write
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
