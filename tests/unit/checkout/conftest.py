"""A small world for checkout logic tests: a live stream, a host's product pinned on it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chalicelib.checkout import catalog
from chalicelib.checkout.models import PinCreate, ProductCreate, Stream
from tests.unit.checkout.fakes import FakeProvider, FakeRepository

T0 = 1_800_000_000_000  # a fixed "now" in epoch ms


@dataclass
class World:
    repo: FakeRepository
    provider: FakeProvider
    stream_id: str
    product_id: str


def make_world(
    stock: int = 10,
    flash_stock: int = 5,
    per_user_limit: int = 2,
    duration: int | None = None,
    peak: int = 250,
) -> World:
    """A live stream ``s1`` of host ``host`` with a product pinned; ``peak`` sizes the stock
    shards (250 orders/s → one shard; 250 x S → S shards, at most one per unit)."""
    repo, provider = FakeRepository(), FakeProvider()
    repo.streams["s1"] = Stream("s1", "host", "live")
    product = catalog.create_product(
        repo, "host", ProductCreate(title="Mug", price_cents=1500, currency="EUR", stock=stock), T0
    )
    catalog.create_pin(
        repo,
        "host",
        "s1",
        PinCreate(
            product_id=product["product_id"],
            flash_price_cents=999,
            flash_stock=flash_stock,
            per_user_limit=per_user_limit,
            duration_seconds=duration,
            expected_peak_orders_per_second=peak,
        ),
        T0,
    )
    return World(repo, provider, "s1", product["product_id"])


@pytest.fixture
def world() -> World:
    return make_world()
