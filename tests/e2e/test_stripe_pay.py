"""``make pay`` against the real local stack: Stripe-shaped, Stripe-signed events over HTTP move
orders as Stripe means them (paid, then refunded in the dashboard; canceled)."""

from __future__ import annotations

import urllib.parse

import pytest

from local import pay
from tests.support.local_stack import LocalStack

pytestmark = pytest.mark.e2e


def _order(stack: LocalStack, stream_id: str, product_id: str, buyer: str) -> str:
    status, body, _ = stack.request(
        "POST", f"/v1/streams/{stream_id}/orders", {"product_id": product_id, "quantity": 1},
        user=buyer, headers={"Idempotency-Key": f"pay-{buyer}"},
    )  # fmt: skip
    assert status == 201, body
    return str(body["order_id"])


def test_make_pay_speaks_stripe_to_the_local_stack(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a live stream with a pinned product and two pending orders
    status, stream, _ = local_stack.request("POST", "/v1/streams", {"title": "pay e2e"}, user="payhost")
    assert status == 201, stream
    status, product, _ = local_stack.request(
        "POST", "/v1/products", {"title": "Mug", "price_cents": 1200, "currency": "USD", "stock": 5},
        user="payhost",
    )  # fmt: skip
    assert status == 201, product
    status, pinned, _ = local_stack.request(
        "POST",
        f"/v1/streams/{stream['stream_id']}/pins",
        {"product_id": product["product_id"]},
        user="payhost",
    )
    assert status == 201, pinned
    paid = _order(local_stack, stream["stream_id"], product["product_id"], "paybuyer1")
    canceled = _order(local_stack, stream["stream_id"], product["product_id"], "paybuyer2")
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_stack.moto_url)
    monkeypatch.setenv("TABLE_NAME", local_stack.env["TABLE_NAME"])
    port = str(urllib.parse.urlsplit(local_stack.api_url).port)

    def state(order_id: str, buyer: str) -> tuple[str, int]:
        code, body, _ = local_stack.request("GET", f"/v1/orders/{order_id}", user=buyer)
        assert code == 200, body
        return str(body["status"]), int(body["refunded_cents"])

    # When the developer runs `make pay ORDER=<paid>`, then `RESULT=refunded`, and
    # `make pay ORDER=<canceled> RESULT=canceled`
    assert pay.main([paid, "--port", port]) == 0
    assert state(paid, "paybuyer1") == ("paid", 0)
    assert pay.main([paid, "refunded", "--port", port]) == 0
    assert pay.main([canceled, "canceled", "--port", port]) == 0
    # Then the stack applied each as Stripe means it
    assert state(paid, "paybuyer1") == ("refunded", 1200)
    assert state(canceled, "paybuyer2") == ("payment_failed", 0)
    # And a repeated delivery is acknowledged without effect
    assert pay.main([canceled, "canceled", "--port", port]) == 0
    assert state(canceled, "paybuyer2") == ("payment_failed", 0)
