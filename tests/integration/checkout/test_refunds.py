"""Refunds over HTTP: the seller refunds a paid or refund_pending order (chalice test client + moto)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient, body_of
from tests.integration.checkout.conftest import Clock, Sale, order, remaining, webhook

TEN_MINUTES = 10 * 60 * 1000


def _stored_order(order_id: str) -> Any:
    from chalicelib.checkout.dal import repository

    return repository().get_order(order_id)


def _sweep(api: ApiClient) -> object:
    event = api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    return api.client.lambda_.invoke("checkout_expire_orders", event).payload


def test_the_seller_refunds_a_paid_order(api: ApiClient, sale: Sale, clock: Clock) -> None:
    # Given vic paid for 2 of the 5 pinned units
    placed = body_of(order(api, sale, "vic", 2))
    assert body_of(webhook(api, clock, placed))["result"] == "paid"
    path = f"/v1/orders/{placed['order_id']}/refund"
    # When the buyer or a stranger asks for the refund
    buyer = api.post(path, user="vic")
    stranger = api.post(path, user="eve")
    # Then the buyer is refused and the stranger does not learn the order exists
    assert (buyer.status_code, body_of(buyer)["code"]) == (403, "forbidden")
    assert (stranger.status_code, body_of(stranger)["code"]) == (404, "not_found")
    assert body_of(api.get(f"/v1/orders/{placed['order_id']}", user="vic"))["status"] == "paid"

    # When the seller refunds it
    clock.advance(1000)
    refunded = api.post(path, user="hana")
    # Then the order is refunded, for buyer and seller alike, with the provider's refund stored
    assert refunded.status_code == 200
    body = body_of(refunded)
    assert body["status"] == "refunded" and body["payment"]["client_secret"] is None
    assert body_of(api.get(f"/v1/orders/{placed['order_id']}", user="vic"))["status"] == "refunded"
    stored = _stored_order(placed["order_id"])
    assert stored.refund_id == f"re_sim_{placed['order_id']}"
    assert stored.refunded_at == body["updated_at"]
    # And the sold units do not go back on sale
    assert remaining(api, sale) == 3

    # When the seller repeats the refund later
    clock.advance(1000)
    again = api.post(path, user="hana")
    # Then the same order comes back unchanged
    assert again.status_code == 200 and body_of(again) == body
    # And a late duplicate payment event does not revive it
    assert body_of(webhook(api, clock, placed, event_id="evt_late"))["result"] == "ignored"
    assert body_of(api.get(f"/v1/orders/{placed['order_id']}", user="hana"))["status"] == "refunded"


def test_an_unpaid_order_cannot_be_refunded(api: ApiClient, sale: Sale, clock: Clock) -> None:
    # Given a pending order and a cancelled one
    pending = body_of(order(api, sale, "vic", 1))
    cancelled = body_of(order(api, sale, "dan", 1))
    assert api.post(f"/v1/orders/{cancelled['order_id']}/cancel", user="dan").status_code == 200
    for placed in (pending, cancelled):
        # When the seller tries to refund it
        response = api.post(f"/v1/orders/{placed['order_id']}/refund", user="hana")
        # Then it is a conflict and nothing changes
        assert (response.status_code, body_of(response)["code"]) == (409, "conflict")
    assert body_of(api.get(f"/v1/orders/{pending['order_id']}", user="vic"))["status"] == "pending_payment"
    assert body_of(api.get(f"/v1/orders/{cancelled['order_id']}", user="dan"))["status"] == "cancelled"
    assert remaining(api, sale) == 4


def test_a_refund_pending_order_is_refunded(
    api: ApiClient, sale: Sale, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.checkout.payments import SimulatorProvider
    from chalicelib.core.errors import UnavailableError

    # Given vic's 2-unit order expired, others bought the stock, then vic's payment arrived late
    # while the provider refused refunds (so the automatic refund is pending)
    def down(self: object, *args: object, **kwargs: object) -> str:
        raise UnavailableError("provider down")

    monkeypatch.setattr(SimulatorProvider, "refund", down)
    late = body_of(order(api, sale, "vic", 2))
    clock.advance(TEN_MINUTES)
    _sweep(api)
    assert order(api, sale, "ann", 2).status_code == 201
    assert order(api, sale, "bob", 2).status_code == 201
    assert order(api, sale, "cat", 1).status_code == 201
    assert body_of(webhook(api, clock, late))["result"] == "refund_pending"
    monkeypatch.undo()
    # When the seller refunds it
    response = api.post(f"/v1/orders/{late['order_id']}/refund", user="hana")
    # Then it is refunded and nobody else's units move
    assert response.status_code == 200 and body_of(response)["status"] == "refunded"
    assert body_of(api.get(f"/v1/orders/{late['order_id']}", user="vic"))["status"] == "refunded"
    assert remaining(api, sale) == 0


def test_the_sweeper_retries_a_pending_automatic_refund_until_it_goes_through(
    api: ApiClient, sale: Sale, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.checkout.payments import SimulatorProvider
    from chalicelib.core.errors import UnavailableError

    # Given a late payment whose units were sold, arriving while the provider refuses refunds
    def down(self: object, *args: object, **kwargs: object) -> str:
        raise UnavailableError("provider down")

    monkeypatch.setattr(SimulatorProvider, "refund", down)
    late = body_of(order(api, sale, "vic", 2))
    clock.advance(TEN_MINUTES)
    _sweep(api)
    for buyer in ("ann", "bob"):
        assert order(api, sale, buyer, 2).status_code == 201
    assert order(api, sale, "cat", 1).status_code == 201
    assert body_of(webhook(api, clock, late))["result"] == "refund_pending"
    # When the sweeper runs while the provider is still down, then after it recovered
    assert _sweep(api) == {"expired": 0, "refunded": 0}
    monkeypatch.undo()
    assert _sweep(api) == {"expired": 0, "refunded": 1}
    # Then the order is refunded for the late payment, once, and no stock moved
    shown = body_of(api.get(f"/v1/orders/{late['order_id']}", user="vic"))
    assert (shown["status"], shown["refund_reason"], shown["refunded_cents"]) == (
        "refunded",
        "late_payment",
        1998,
    )
    assert _sweep(api) == {"expired": 0, "refunded": 0}
    assert remaining(api, sale) == 0
