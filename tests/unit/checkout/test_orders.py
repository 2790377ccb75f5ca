"""Placing, reading, cancelling and expiring orders (logic over the in-memory repository)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.checkout import orders
from chalicelib.checkout.errors import (
    IllegalTransitionError,
    LimitExceededError,
    OrderNotFoundError,
    PinExpiredError,
    PinNotFoundError,
    SoldOutError,
    StreamEndedError,
)
from chalicelib.checkout.models import HOLD_MS, OrderCreate, Stream
from chalicelib.checkout.ports import OrderContext
from chalicelib.checkout.stock_shards import home_shard
from chalicelib.core.errors import ForbiddenError, IdempotencyKeyReusedError, UnavailableError
from tests.unit.checkout.conftest import T0, World, make_world


def buy(w: World, buyer: str, quantity: int = 1, key: str | None = None, now: int = T0) -> dict[str, Any]:
    return orders.place_order(
        w.repo,
        w.provider,
        buyer_id=buyer,
        stream_id=w.stream_id,
        body=OrderCreate(product_id=w.product_id, quantity=quantity),
        idem_key=key or f"key-{buyer}-{quantity}",
        now_ms=now,
    )


def pin(w: World) -> Any:
    return w.repo.pin_with_stock(w.stream_id, w.product_id)


def test_an_order_holds_stock_at_the_flash_price_for_ten_minutes(world: World) -> None:
    # Given a pin of 5 units at a flash price of 9.99 EUR
    # When a viewer buys 2
    order = buy(world, "ann", 2)
    # Then the order is pending, priced by the server, and holds the units
    assert order["status"] == "pending_payment"
    assert (order["unit_price_cents"], order["amount_cents"], order["currency"]) == (999, 1998, "EUR")
    assert order["seller_id"] == "host" and order["buyer_id"] == "ann"
    assert order["expires_at"] == "2027-01-15T08:10:00.000Z"
    assert order["payment"]["payment_intent_id"] == f"pi_{order['order_id']}"
    assert order["payment"]["client_secret"]
    assert (pin(world).remaining, pin(world).held) == (3, 2)
    assert world.provider.created == [
        {"order_id": order["order_id"], "amount_cents": 1998, "currency": "EUR"}
    ]


def test_a_retry_with_the_same_key_returns_the_original_order(world: World) -> None:
    # Given an order placed with a key
    first = buy(world, "ann", 1, key="k1")
    # When the client retries with the same key and body
    again = buy(world, "ann", 1, key="k1")
    # Then it gets the same order and nothing is reserved twice
    assert again == first
    assert pin(world).remaining == 4
    assert len(world.repo.orders) == 1


def test_reusing_a_key_for_a_different_body_is_refused(world: World) -> None:
    # Given an order placed with a key
    buy(world, "ann", 1, key="k1")
    # When the same key comes with another quantity
    with pytest.raises(IdempotencyKeyReusedError):
        buy(world, "ann", 2, key="k1")
    # Then nothing more is reserved
    assert pin(world).remaining == 4


def test_a_concurrent_retry_that_loses_the_race_answers_with_the_winner(world: World) -> None:
    # Given a retry whose read ran before the first attempt committed
    winner = buy(world, "ann", 1, key="k1")
    real_read = world.repo.read_for_order

    def stale_read(*args: Any) -> OrderContext:
        ctx = real_read(*args)
        return OrderContext(ctx.stream, ctx.pin, None, 0)

    world.repo.read_for_order = stale_read  # type: ignore[method-assign,assignment]
    # When it reaches the transaction
    replay = buy(world, "ann", 1, key="k1")
    # Then it returns the winner's order and abandons its own payment intent
    assert replay["order_id"] == winner["order_id"]
    assert len(world.provider.cancelled) == 1
    assert pin(world).remaining == 4


def _two_shards_with_anns_home_drained() -> World:
    """Two shards of one unit each; a neighbour of ann's (same home shard) took that one."""
    w = make_world(flash_stock=2, peak=500)
    shards = pin(w).shards
    assert shards == 2
    neighbour = next(
        b for b in (f"viewer{i}" for i in range(100)) if home_shard(b, shards) == home_shard("ann", shards)
    )
    buy(w, neighbour)
    return w


def _after_the_next_read(w: World, lands: Callable[[], object]) -> None:
    """The next order's first read runs, then ``lands`` (another order) commits before it goes on."""
    real_read = w.repo.read_for_order

    def read_then_lose_the_race(*args: Any) -> OrderContext:
        ctx = real_read(*args)
        w.repo.read_for_order = real_read  # type: ignore[method-assign]
        lands()
        return ctx

    w.repo.read_for_order = read_then_lose_the_race  # type: ignore[method-assign,assignment]


def test_a_retry_that_finds_the_last_unit_gone_to_its_twin_answers_with_that_order() -> None:
    # Given one unit left, in a shard other than ann's home, and a retry of ann's order whose
    # read ran before her first attempt (which falls over to that shard) committed
    w = _two_shards_with_anns_home_drained()
    winner: dict[str, Any] = {}
    _after_the_next_read(w, lambda: winner.update(buy(w, "ann", 1, key="k1")))
    # When the retry falls over and finds every shard empty
    replay = buy(w, "ann", 1, key="k1")
    # Then it is answered with the first attempt's order, not "sold out", and nothing more is held
    assert replay["order_id"] == winner["order_id"]
    assert len(w.repo.orders) == 2
    assert pin(w).remaining == 0


def test_a_buyer_who_finds_the_last_unit_gone_elsewhere_is_sold_out() -> None:
    # Given one unit left, in a shard other than ann's home, taken by bob after ann's read
    w = _two_shards_with_anns_home_drained()
    _after_the_next_read(w, lambda: buy(w, "bob", 1, key="b1"))
    # When ann falls over and finds every shard empty
    # Then she is told sold out (her key holds no order), after one more read of her record
    with pytest.raises(SoldOutError):
        buy(w, "ann", 1, key="k1")
    assert "ann" not in [o.buyer_id for o in w.repo.orders.values()]
    assert w.repo.calls[-1] == "order_record"


def test_sold_out_is_flagged_once_and_later_attempts_write_nothing() -> None:
    # Given a pin with one unit that has been bought
    w = make_world(flash_stock=1)
    buy(w, "ann")
    writes = w.repo.writes
    # When another viewer tries to buy
    with pytest.raises(SoldOutError):
        buy(w, "bob")
    # Then that attempt found every shard empty and set the flag: one conditional write, no intent
    assert w.repo.writes == writes + 1
    assert w.repo.pins[(w.stream_id, w.product_id)].sold_out
    assert len(w.provider.created) == 1
    # When more viewers try
    for viewer in ("cat", "dan", "eve"):
        with pytest.raises(SoldOutError):
            buy(w, viewer)
    # Then each was refused from its first read alone: no write, no shard read, no intent
    assert w.repo.writes == writes + 1
    assert w.repo.calls[-3:] == ["read_for_order"] * 3
    assert len(w.provider.created) == 1


def test_buying_more_than_remains_is_sold_out(world: World) -> None:
    buy(world, "ann", 2)
    buy(world, "bob", 2)
    with pytest.raises(SoldOutError):
        buy(world, "cat", 2)
    assert pin(world).remaining == 1


def test_the_per_buyer_limit_counts_every_live_order(world: World) -> None:
    # Given a buyer holding 2 units (the limit) in two orders
    first = buy(world, "ann", 1, key="a")
    buy(world, "ann", 1, key="b")
    # When they try a third unit
    with pytest.raises(LimitExceededError):
        buy(world, "ann", 1, key="c")
    # Then after cancelling one order they may buy again
    orders.cancel_order(world.repo, world.provider, "ann", first["order_id"], T0 + 1)
    assert buy(world, "ann", 1, key="c")["status"] == "pending_payment"


def test_ordering_on_an_ended_stream_or_unpinned_product_is_refused(world: World) -> None:
    with pytest.raises(PinNotFoundError):
        orders.place_order(
            world.repo, world.provider, buyer_id="ann", stream_id="s1",
            body=OrderCreate(product_id="nope", quantity=1), idem_key="k", now_ms=T0,
        )  # fmt: skip
    world.repo.streams["s1"] = Stream("s1", "host", "ended")
    with pytest.raises(StreamEndedError):
        buy(world, "ann")
    assert world.repo.orders == {}


def test_a_pin_past_its_duration_is_expired() -> None:
    w = make_world(duration=60)
    with pytest.raises(PinExpiredError):
        buy(w, "ann", now=T0 + 60_000)
    assert buy(w, "ann", now=T0 + 59_999)["status"] == "pending_payment"


def test_when_the_provider_fails_nothing_is_reserved(world: World) -> None:
    world.provider.fail = True
    with pytest.raises(UnavailableError):
        buy(world, "ann")
    assert pin(world).remaining == 5 and world.repo.orders == {}


def test_only_buyer_and_seller_see_an_order(world: World) -> None:
    order = buy(world, "ann")
    assert orders.get_order(world.repo, "ann", order["order_id"], T0)["payment"]["client_secret"]
    seller_view = orders.get_order(world.repo, "host", order["order_id"], T0)
    assert seller_view["payment"]["client_secret"] is None
    with pytest.raises(OrderNotFoundError):
        orders.get_order(world.repo, "eve", order["order_id"], T0)


def test_a_pending_order_past_its_hold_reads_as_expired_before_the_sweeper(world: World) -> None:
    order = buy(world, "ann")
    view = orders.get_order(world.repo, "ann", order["order_id"], T0 + HOLD_MS)
    assert view["status"] == "expired"
    with pytest.raises(IllegalTransitionError):
        orders.cancel_order(world.repo, world.provider, "ann", order["order_id"], T0 + HOLD_MS)


def test_the_sweeper_expires_unpaid_orders_and_returns_their_units_once(world: World) -> None:
    # Given two orders, one placed later
    buy(world, "ann", 2)
    late = buy(world, "bob", 1, now=T0 + 5 * 60_000)
    # When the sweeper runs after the first hold ended (and runs again)
    assert orders.sweep_expired(world.repo, T0 + HOLD_MS) == 1
    assert orders.sweep_expired(world.repo, T0 + HOLD_MS + 1) == 0
    # Then only the first order expired and its units are back exactly once
    assert (pin(world).remaining, pin(world).held) == (4, 1)
    assert world.repo.orders[late["order_id"]].status == "pending_payment"


def test_cancel_is_for_the_buyer_of_a_pending_order(world: World) -> None:
    order = buy(world, "ann", 2)
    with pytest.raises(ForbiddenError):
        orders.cancel_order(world.repo, world.provider, "host", order["order_id"], T0)
    with pytest.raises(OrderNotFoundError):
        orders.cancel_order(world.repo, world.provider, "eve", order["order_id"], T0)
    cancelled = orders.cancel_order(world.repo, world.provider, "ann", order["order_id"], T0)
    assert cancelled["status"] == "cancelled"
    assert pin(world).remaining == 5
    with pytest.raises(IllegalTransitionError):
        orders.cancel_order(world.repo, world.provider, "ann", order["order_id"], T0)
    assert pin(world).remaining == 5


def test_listing_pages_through_a_sellers_orders_newest_first(world: World) -> None:
    # Given three buyers' orders of the host's product
    ids = [buy(world, f"u{i}", 1)["order_id"] for i in range(3)]
    # When the seller lists them two at a time
    page = orders.list_orders(world.repo, "host", "seller", 2, None, "secret-123", T0)
    rest = orders.list_orders(world.repo, "host", "seller", 2, page["next_cursor"], "secret-123", T0)
    # Then they come newest first, and the cursor ends the listing
    assert [o["order_id"] for o in page["items"] + rest["items"]] == sorted(ids, reverse=True)
    assert rest["next_cursor"] is None
    # And a buyer's cursor is not valid for the seller's listing
    from chalicelib.core.errors import InvalidCursorError

    with pytest.raises(InvalidCursorError):
        orders.list_orders(world.repo, "u0", "buyer", 2, page["next_cursor"], "secret-123", T0)
