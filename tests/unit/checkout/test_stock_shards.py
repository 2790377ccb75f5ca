"""Shard math (sizing, even split, buyer hash, fallover choice) and the order logic over
several stock shards, with the in-memory repository."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.checkout import orders, stock_shards
from chalicelib.checkout.errors import ShardShortError, SoldOutError
from chalicelib.checkout.models import Order, OrderCreate
from chalicelib.core.errors import UnavailableError
from tests.unit.checkout.conftest import T0, World, make_world
from tests.unit.checkout.fakes import FakeRepository


@pytest.mark.parametrize(
    ("units", "peak", "expected"),
    [
        (1000, 1000, 4),  # the default peak
        (1000, 250, 1),
        (1000, 251, 2),
        (1000, 2000, 8),
        (1000, 10_000, 40),
        (1000, 100_000, 100),  # capped at 100
        (3, 100_000, 3),  # never more shards than units
        (1, 1, 1),
    ],
)
def test_shard_count_follows_the_peak_and_the_caps(units: int, peak: int, expected: int) -> None:
    assert stock_shards.shard_count(units, peak) == expected


@given(units=st.integers(1, 1_000_000), peak=st.integers(1, 100_000))
def test_units_split_evenly_and_add_up(units: int, peak: int) -> None:
    s = stock_shards.shard_count(units, peak)
    parts = stock_shards.split(units, s)
    assert len(parts) == s and sum(parts) == units
    assert max(parts) - min(parts) <= 1 and min(parts) >= 1


def test_buyers_spread_evenly_over_the_shards() -> None:
    counts = Counter(stock_shards.home_shard(f"user{i}", 8) for i in range(8000))
    assert set(counts) == set(range(8))
    assert all(900 <= n <= 1100 for n in counts.values())
    assert stock_shards.home_shard("ann", 8) == stock_shards.home_shard("ann", 8)


def test_fallover_picks_a_shard_that_can_serve_and_avoids_the_one_that_refused() -> None:
    left = {0: 0, 1: 2, 2: 1, 3: 5}
    assert stock_shards.fallover_shard(left, 2, "ann", avoid=0) in (1, 3)
    assert stock_shards.fallover_shard(left, 6, "ann", avoid=0) is None
    assert stock_shards.fallover_shard({0: 3}, 1, "ann", avoid=0) == 0  # the only candidate
    # Different buyers fall over to different shards (no single hot fallover target).
    picks = {stock_shards.fallover_shard({k: 9 for k in range(8)}, 1, f"u{i}", avoid=0) for i in range(200)}
    assert picks == set(range(1, 8))


def buy(w: World, buyer: str, quantity: int = 1, key: str | None = None) -> dict[str, object]:
    return orders.place_order(
        w.repo, w.provider, buyer_id=buyer, stream_id=w.stream_id,
        body=OrderCreate(product_id=w.product_id, quantity=quantity),
        idem_key=key or buyer, now_ms=T0,
    )  # fmt: skip


def homed_at(shard: int, s: int, count: int) -> list[str]:
    names = (f"b{i}" for i in range(10_000))
    return [n for n in names if stock_shards.home_shard(n, s) == shard][:count]


def test_a_cold_container_tries_the_home_shard_then_falls_over() -> None:
    # Given 4 units over 4 shards, shard 0 emptied, and a container that has not read the pin yet
    w = make_world(flash_stock=4, peak=1000, per_user_limit=1)
    first, second = homed_at(0, 4, 2)
    buy(w, first)
    w.repo.cold = True
    w.repo.calls.clear()
    # When a buyer of shard 0 orders
    placed = buy(w, second)
    # Then the home-shard transaction was refused, one read of all shards found another, and
    # the order records that shard
    other = placed_shard(w, placed)
    assert w.repo.calls == ["read_for_order", "place_order@0", "read_shards", f"place_order@{other}"]
    assert other != 0


def placed_shard(w: World, placed: dict[str, object]) -> int:
    return w.repo.orders[str(placed["order_id"])].shard


def test_a_warm_container_falls_over_in_three_calls_and_sells_every_unit() -> None:
    # Given 8 units over 8 shards and 8 buyers who all hash to shard 3
    w = make_world(stock=8, flash_stock=8, peak=2000, per_user_limit=1)
    buyers = homed_at(3, 8, 9)
    # When they all order
    for b in buyers[:8]:
        w.repo.calls.clear()
        placed = buy(w, b)
        # Then each is ≤ 3 calls: the read, at most one read of all shards, one transaction
        assert len(w.repo.calls) <= 3 and w.repo.calls[-1] == f"place_order@{placed_shard(w, placed)}"
    # And every shard was emptied before anyone was told sold_out
    assert [s.remaining for s in w.repo.shards_of(w.repo.pins[(w.stream_id, w.product_id)])] == [0] * 8
    with pytest.raises(SoldOutError):
        buy(w, buyers[8])
    assert Counter(o.shard for o in w.repo.orders.values()) == dict.fromkeys(range(8), 1)


def test_a_stale_sold_out_decision_does_not_set_the_flag() -> None:
    # Given a 2-unit, 2-shard pin read by a buyer who is about to find it empty
    w = make_world(flash_stock=2, peak=500, per_user_limit=1)
    buy(w, "ann")
    buy(w, "bob")
    seen = w.repo.pins[(w.stream_id, w.product_id)]
    empty = w.repo.shards_of(seen)
    # When an order is cancelled meanwhile (its unit returns)
    ann = next(o for o in w.repo.orders.values() if o.buyer_id == "ann")
    orders.cancel_order(w.repo, w.provider, "ann", ann.order_id, T0)
    # And the stale decision (both shards read empty) tries to flag the pin
    w.repo.flag_sold_out(seen, empty)
    # Then the flag stays off: the returned unit is on sale
    assert not w.repo.pins[(w.stream_id, w.product_id)].sold_out
    assert buy(w, "cat")["status"] == "pending_payment"


class LosingRepository(FakeRepository):
    """Every shard shows units on the read, but the next ``losses`` transactions lose the race
    for them (another buyer took them first)."""

    def __init__(self, losses: int) -> None:
        super().__init__()
        self.losses = losses

    def place_order(
        self, order: Order, idem_key: str, fingerprint: str, per_user_limit: int, now_ms: int
    ) -> None:
        if self.losses > 0:
            self.losses -= 1
            self.calls.append(f"lost@{order.shard}")
            raise ShardShortError(0)
        super().place_order(order, idem_key, fingerprint, per_user_limit, now_ms)


def _world_on(repo: FakeRepository) -> World:
    w = make_world(flash_stock=8, peak=2000)
    repo.__dict__.update({k: v for k, v in w.repo.__dict__.items() if k not in ("losses",)})
    return World(repo, w.provider, w.stream_id, w.product_id)


def test_an_order_that_keeps_losing_races_switches_three_times_then_503() -> None:
    # Given 8 units over 8 shards, and a buyer who will lose 3 races in a row
    w = _world_on(LosingRepository(losses=3))
    # When they order
    placed = buy(w, "ann")
    # Then the 4th transaction (on the shard the 3rd fallover read picked) went through
    steps = [c.split("@")[0] for c in w.repo.calls[-8:]]
    assert steps == ["read_for_order"] + ["lost", "read_shards"] * 3 + ["place_order"]
    assert placed["status"] == "pending_payment"
    # When another buyer loses 4 races
    w.repo.losses = 4  # type: ignore[attr-defined]
    with pytest.raises(UnavailableError):
        buy(w, "bob")
    # Then they were told to retry (503), their intent was abandoned, and nothing was taken
    assert w.provider.cancelled
    assert w.repo.pin_with_stock(w.stream_id, w.product_id).remaining == 7
