"""Products and pins: ownership, stock carving, the pinned chat message."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.checkout import catalog, orders
from chalicelib.checkout.errors import (
    AlreadyPinnedError,
    InsufficientStockError,
    PinNotFoundError,
    StaleWriteError,
    StreamEndedError,
)
from chalicelib.checkout.models import (
    CANCELLED,
    PIN_ACTIVE,
    PIN_UNPINNED,
    OrderCreate,
    Pin,
    PinCreate,
    ProductPatch,
    StockShard,
    Stream,
)
from chalicelib.core.errors import ForbiddenError, UnavailableError
from tests.unit.checkout.conftest import T0, World, make_world
from tests.unit.checkout.fakes import FakeRepository


def test_pinning_carves_stock_out_of_the_product_and_announces_it(world: World) -> None:
    # Given the world fixture pinned 5 of 10 units at a flash price
    product = world.repo.products[world.product_id]
    # Then the product keeps 5 and the chat got a product_pinned message
    assert product.stock == 5
    [message] = world.repo.messages
    assert message["type"] == "product_pinned" and message["sender_id"] == "host"
    assert message["product"] == {
        "product_id": world.product_id, "title": "Mug", "price_cents": 999,
        "currency": "EUR", "remaining": 5, "ends_at": None,
    }  # fmt: skip


def test_only_the_host_selling_their_own_product_may_pin(world: World) -> None:
    other = catalog.create_product(world.repo, "guest", _product_body(), T0)
    with pytest.raises(ForbiddenError):
        catalog.create_pin(world.repo, "guest", "s1", PinCreate(product_id=other["product_id"]), T0)
    with pytest.raises(ForbiddenError):
        catalog.create_pin(world.repo, "host", "s1", PinCreate(product_id=other["product_id"]), T0)


def test_pinning_more_than_exists_or_twice_is_refused(world: World) -> None:
    with pytest.raises(AlreadyPinnedError):
        catalog.create_pin(
            world.repo, "host", "s1", PinCreate(product_id=world.product_id, flash_stock=1), T0
        )
    world.repo.streams["s2"] = Stream("s2", "host", "live")
    with pytest.raises(InsufficientStockError):
        catalog.create_pin(
            world.repo, "host", "s2", PinCreate(product_id=world.product_id, flash_stock=6), T0
        )
    assert world.repo.products[world.product_id].stock == 5


def test_the_default_flash_stock_is_everything_left(world: World) -> None:
    world.repo.streams["s2"] = Stream("s2", "host", "live")
    pin = catalog.create_pin(world.repo, "host", "s2", PinCreate(product_id=world.product_id), T0)
    assert pin["remaining"] == 5 and pin["price_cents"] == 1500 and pin["per_user_limit"] == 5
    assert world.repo.products[world.product_id].stock == 0


def test_no_pinning_on_an_ended_stream(world: World) -> None:
    world.repo.streams["s2"] = Stream("s2", "host", "ended")
    with pytest.raises(StreamEndedError):
        catalog.create_pin(
            world.repo, "host", "s2", PinCreate(product_id=world.product_id, flash_stock=1), T0
        )


def test_unpinning_returns_the_unsold_units_and_hides_the_pin(world: World) -> None:
    with pytest.raises(ForbiddenError):
        catalog.unpin(world.repo, "guest", "s1", world.product_id, T0)
    catalog.unpin(world.repo, "host", "s1", world.product_id, T0)
    assert world.repo.products[world.product_id].stock == 10
    assert catalog.active_pins(world.repo.list_pins("s1"), T0) == []
    with pytest.raises(PinNotFoundError):
        catalog.unpin(world.repo, "host", "s1", world.product_id, T0)


def test_a_timed_pin_disappears_from_the_stream_when_it_ends() -> None:
    w = make_world(duration=30)
    [shown] = catalog.active_pins(w.repo.list_pins("s1"), T0)
    assert shown["ends_at"] == "2027-01-15T08:00:30.000Z"
    assert catalog.active_pins(w.repo.list_pins("s1"), T0 + 30_000) == []


def test_only_the_seller_may_change_a_product(world: World) -> None:
    with pytest.raises(ForbiddenError):
        catalog.patch_product(world.repo, "guest", world.product_id, ProductPatch(price_cents=1), T0)
    changed = catalog.patch_product(world.repo, "host", world.product_id, ProductPatch(price_cents=1200), T0)
    assert changed["price_cents"] == 1200 and changed["stock"] == 5


def _product_body():  # type: ignore[no-untyped-def]
    from chalicelib.checkout.models import ProductCreate

    return ProductCreate(title="Hat", price_cents=500, currency="USD", stock=3)


def _second_pin(w: World, flash_stock: int = 4, peak: int = 750) -> str:
    """Another product of the host (stock 6) pinned on ``s1``: ``flash_stock`` units, 3 shards."""
    body = _product_body().model_copy(update={"stock": 6})
    product = catalog.create_product(w.repo, "host", body, T0)
    catalog.create_pin(
        w.repo,
        "host",
        "s1",
        PinCreate(
            product_id=product["product_id"], flash_stock=flash_stock, expected_peak_orders_per_second=peak
        ),
        T0,
    )
    return str(product["product_id"])


def _buy(w: World, buyer: str, quantity: int) -> dict[str, object]:
    return orders.place_order(
        w.repo,
        w.provider,
        buyer_id=buyer,
        stream_id="s1",
        body=OrderCreate(product_id=w.product_id, quantity=quantity),
        idem_key=f"{buyer}-{quantity}",
        now_ms=T0,
    )


def test_closing_an_ended_streams_sales_unpins_every_active_pin(world: World) -> None:
    # Given two pins on s1 (5 units of the mug, 2 of them held by a pending order; 4 units of a
    # hat over 3 shards), then the host ends the stream
    hat = _second_pin(world)
    placed = _buy(world, "ann", 2)
    world.repo.streams["s1"] = Stream("s1", "host", "ended")
    # When its sales are closed
    closed = catalog.close_stream_sales(world.repo, "s1", T0 + 1)
    # Then both pins are unpinned, marked closed by the stream's end
    assert closed == 2
    for product_id in (world.product_id, hat):
        pin = world.repo.pins[("s1", product_id)]
        assert (pin.status, pin.closed_reason) == (PIN_UNPINNED, "stream_ended")
        shards = world.repo.shards_of(pin)
        assert {(s.status, s.closed_reason, s.remaining) for s in shards} == {
            (PIN_UNPINNED, "stream_ended", 0)
        }
    assert len(world.repo.shards_of(world.repo.pins[("s1", hat)])) == 3
    # And the unsold units are back on the products; the 2 held ones stay with the order
    assert world.repo.products[world.product_id].stock == 5 + 3
    assert world.repo.products[hat].stock == 6
    assert catalog.active_pins(world.repo.list_pins("s1"), T0 + 1) == []
    # And an order now is refused as stream_ended (not as an unknown pin)
    with pytest.raises(StreamEndedError):
        _buy(world, "bob", 1)
    # When the held order is cancelled later
    orders.cancel_order(world.repo, world.provider, "ann", str(placed["order_id"]), T0 + 2)
    # Then its units go back to the product too
    assert world.repo.orders[str(placed["order_id"])].status == CANCELLED
    assert world.repo.products[world.product_id].stock == 10


def test_closing_again_changes_nothing_and_skips_pins_the_host_unpinned(world: World) -> None:
    # Given a pin the host unpinned before the end, and one still active
    hat = _second_pin(world)
    catalog.unpin(world.repo, "host", "s1", world.product_id, T0)
    world.repo.streams["s1"] = Stream("s1", "host", "ended")
    # When the sales are closed twice (a retried end)
    assert catalog.close_stream_sales(world.repo, "s1", T0 + 1) == 1
    before = (dict(world.repo.products), dict(world.repo.pins), dict(world.repo.shards))
    writes = world.repo.writes
    world.repo.calls.clear()
    assert catalog.close_stream_sales(world.repo, "s1", T0 + 2) == 0
    # Then the second pass read the pins and the one it had closed (nothing left to drain),
    # and wrote nothing
    assert world.repo.calls[:1] == ["stream_pins"] and world.repo.writes == writes
    assert (dict(world.repo.products), dict(world.repo.pins), dict(world.repo.shards)) == before
    # And the host's unpin stays a plain unpin; only the still-active pin was closed by the end
    assert world.repo.pins[("s1", world.product_id)].closed_reason is None
    assert world.repo.pins[("s1", hat)].closed_reason == "stream_ended"
    # And an order on the host-unpinned product is refused as the ended stream's
    with pytest.raises(StreamEndedError):
        _buy(world, "bob", 1)


def test_a_stream_without_pins_has_nothing_to_close() -> None:
    repo = FakeRepository()
    repo.streams["s9"] = Stream("s9", "host", "ended")
    assert catalog.close_stream_sales(repo, "s9", T0) == 0
    assert repo.writes == 0


class RacingRepository(FakeRepository):
    """A buyer takes a unit between the closer's read of the shards and its write, ``races``
    times in a row."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    def unpin(
        self, pin: Pin, shards: list[StockShard], now_ms: int, closed_reason: str | None = None
    ) -> None:
        if self.races:
            self.races -= 1
            self.writes += 1
            key = (pin.stream_id, pin.product_id, shards[0].shard)
            stored = self.shards[key]
            self.shards[key] = replace(stored, remaining=stored.remaining - 1, held=stored.held + 1)
            raise StaleWriteError("a buyer took a unit")
        super().unpin(pin, shards, now_ms, closed_reason)


def _racing_world(races: int) -> RacingRepository:
    """The conftest world (5 of the mug's 10 units pinned on s1, one shard) on a racing repo."""
    repo = RacingRepository(races)
    repo.__dict__.update(vars(make_world().repo))
    repo.streams["s1"] = Stream("s1", "host", "ended")
    return repo


def test_a_buyer_racing_the_close_makes_it_re_read_and_close_what_is_left() -> None:
    # Given an ended stream whose pin a buyer takes from twice while it is being closed
    repo = _racing_world(races=2)
    [pin] = repo.stream_pins("s1")
    # When its sales are closed
    assert catalog.close_stream_sales(repo, "s1", T0) == 1
    # Then the third attempt closed the pin with what was left (5 - 2 taken), all to the product
    closed = repo.pins[("s1", pin.product_id)]
    assert (closed.status, closed.closed_reason) == (PIN_UNPINNED, "stream_ended")
    assert repo.products[pin.product_id].stock == 5 + 3
    assert sum(s.held for s in repo.shards_of(closed)) == 2


def test_a_pin_that_keeps_changing_is_503_and_a_retry_finishes_it() -> None:
    # Given a pin that changes under every one of the closer's attempts
    repo = _racing_world(races=catalog.RETRIES)
    [pin] = repo.stream_pins("s1")
    # When its sales are closed
    with pytest.raises(UnavailableError):
        catalog.close_stream_sales(repo, "s1", T0)
    # Then the pin is still on sale, and a retried end closes it
    assert repo.pins[("s1", pin.product_id)].status == PIN_ACTIVE
    assert catalog.close_stream_sales(repo, "s1", T0 + 1) == 1
    assert repo.pins[("s1", pin.product_id)].closed_reason == "stream_ended"
