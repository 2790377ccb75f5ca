"""Products and pins: ownership, stock carving, the pinned chat message."""

from __future__ import annotations

import pytest

from chalicelib.checkout import catalog
from chalicelib.checkout.errors import (
    AlreadyPinnedError,
    InsufficientStockError,
    PinNotFoundError,
    StreamEndedError,
)
from chalicelib.checkout.models import PinCreate, ProductPatch, Stream
from chalicelib.core.errors import ForbiddenError
from tests.unit.checkout.conftest import T0, World, make_world


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
