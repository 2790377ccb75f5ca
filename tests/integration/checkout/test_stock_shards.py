"""A pin's stock spread over S stock shards, over HTTP (chalice test client + moto): sizing and
even split, fallover, sold out only when every shard is empty, returns to the right shard, the
per-buyer limit across shards, conflict retries and the final 503, and the call budgets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.checkout.stock_shards import home_shard
from tests.conftest import ApiClient, body_of
from tests.integration.checkout.conftest import Clock, Sale, create_product, order, pin, start_stream


def sharded_sale(api: ApiClient, units: int, peak: int, per_user_limit: int = 5) -> tuple[Sale, Any]:
    stream_id = start_stream(api, "hana")
    product_id = create_product(api, "hana", stock=units)
    response = pin(
        api, "hana", stream_id, product_id,
        flash_stock=units, per_user_limit=per_user_limit, expected_peak_orders_per_second=peak,
    )  # fmt: skip
    assert response.status_code == 201, response.body
    return Sale(stream_id, product_id), body_of(response)


def shards(sale: Sale) -> list[tuple[int, int, int, int]]:
    """(units, remaining, held, sold) per stock shard, as stored."""
    from chalicelib.checkout.dal import repository

    found = repository().get_pin_stock(sale.stream_id, sale.product_id)
    assert found is not None
    return [(s.units, s.remaining, s.held, s.sold) for s in found[1]]


def buyers_homed_at(shard: int, count: int, s: int, prefix: str = "b") -> list[str]:
    """``count`` buyer ids whose home shard (of S = ``s``) is ``shard``."""
    out: list[str] = []
    i = 0
    while len(out) < count:
        name = f"{prefix}{i}"
        if home_shard(name, s) == shard:
            out.append(name)
        i += 1
    return out


def warm(api: ApiClient, *users: str) -> None:
    """Budgets are for warm containers: write the callers' once-a-minute activity stamps first."""
    for user in users:
        api.get("/v1/me", user=user)


def stream_remaining(api: ApiClient, sale: Sale) -> tuple[int, bool]:
    stream = body_of(api.get(f"/v1/streams/{sale.stream_id}", user="viewer"))
    [shown] = [p for p in stream["pinned"] if p["product_id"] == sale.product_id]
    return int(shown["remaining"]), bool(shown["sold_out"])


def test_shards_are_sized_from_the_peak_and_units_split_evenly(api: ApiClient, clock: Clock) -> None:
    # Given / When a pin of 10 units with the default expected peak (1,000 orders/s)
    sale, view = sharded_sale(api, 10, 1000)
    # Then it has ceil(1000 / 250) = 4 shards holding 3, 3, 2, 2
    assert (view["stock_shards"], view["expected_peak_orders_per_second"]) == (4, 1000)
    assert shards(sale) == [(3, 3, 0, 0), (3, 3, 0, 0), (2, 2, 0, 0), (2, 2, 0, 0)]
    # When a pin of 3 units expects 100,000 orders/s
    small, small_view = sharded_sale(api, 3, 100_000)
    # Then S never exceeds the units
    assert small_view["stock_shards"] == 3 and shards(small) == [(1, 1, 0, 0)] * 3
    # When a pin of 1,000 units expects 100,000 orders/s
    big, big_view = sharded_sale(api, 1000, 100_000)
    # Then S stops at 100 (two creation transactions), 10 units each, and the view sums them
    assert big_view["stock_shards"] == 100 and shards(big) == [(10, 10, 0, 0)] * 100
    assert stream_remaining(api, big) == (1000, False)


@pytest.mark.parametrize("peak", [0, 100_001, "1000"])
def test_an_out_of_range_peak_is_a_400(api: ApiClient, clock: Clock, peak: Any) -> None:
    stream_id = start_stream(api, "hana")
    product_id = create_product(api, "hana")
    response = pin(api, "hana", stream_id, product_id, expected_peak_orders_per_second=peak)
    assert (response.status_code, body_of(response)["code"]) == (400, "validation_error")


def test_an_empty_home_shard_falls_over_with_one_read_and_sold_out_only_when_all_are_empty(
    api: ApiClient, clock: Clock, calls: list[str]
) -> None:
    # Given 4 units over 4 shards, and buyers who all hash to shard 0
    sale, _ = sharded_sale(api, 4, 1000)
    first, *others = buyers_homed_at(0, 6, 4)
    warm(api, *others)
    assert order(api, sale, first).status_code == 201
    assert shards(sale)[0] == (1, 0, 1, 0)
    # When the next buyer of shard 0 orders
    calls.clear()
    placed = order(api, sale, others[0])
    # Then one read of all shards found another with units: 3 calls
    assert placed.status_code == 201
    assert calls == ["BatchGetItem", "BatchGetItem", "TransactWriteItems"]
    # When two more buyers of shard 0 order, every unit is sold (none stranded)
    assert [order(api, sale, b).status_code for b in others[1:3]] == [201, 201]
    assert [s[1] for s in shards(sale)] == [0, 0, 0, 0]
    assert stream_remaining(api, sale) == (0, True)
    # Then the next is sold out, and the one after that costs one read and no write
    refused = order(api, sale, others[3])
    assert (refused.status_code, body_of(refused)["code"]) == (409, "sold_out")
    calls.clear()
    refused = order(api, sale, others[4])
    assert (refused.status_code, body_of(refused)["code"]) == (409, "sold_out")
    assert calls == ["BatchGetItem"]


def test_a_quantity_no_single_shard_holds_is_sold_out_but_smaller_ones_still_sell(
    api: ApiClient, clock: Clock
) -> None:
    # Given 4 units over 4 shards (1 each)
    sale, _ = sharded_sale(api, 4, 1000)
    # When a buyer wants 2 (the total has them, no shard does)
    refused = order(api, sale, "ann", 2)
    # Then that is sold_out, the pin is not flagged, and single units still sell
    assert (refused.status_code, body_of(refused)["code"]) == (409, "sold_out")
    assert stream_remaining(api, sale) == (4, False)
    assert order(api, sale, "bob", 1).status_code == 201


def test_a_cancel_returns_units_to_the_shard_they_came_from(api: ApiClient, clock: Clock) -> None:
    # Given 4 units over 4 shards; a buyer of shard 0 took shard 0's unit, another fell over
    sale, _ = sharded_sale(api, 4, 1000)
    first, second = buyers_homed_at(0, 2, 4)
    assert order(api, sale, first).status_code == 201
    fell_over = body_of(order(api, sale, second))
    before = shards(sale)
    taken = [k for k, s in enumerate(before) if s[2] == 1 and k != 0]
    assert len(taken) == 1
    # When the buyer who fell over cancels
    cancelled = api.post(f"/v1/orders/{fell_over['order_id']}/cancel", user=second)
    assert body_of(cancelled)["status"] == "cancelled"
    # Then the unit is back in that shard, not in shard 0 (which still holds the first order)
    after = shards(sale)
    assert after[taken[0]] == (1, 1, 0, 0)
    assert after[0] == (1, 0, 1, 0)
    assert stream_remaining(api, sale) == (3, False)


def test_returned_units_clear_the_sold_out_flag(api: ApiClient, clock: Clock) -> None:
    # Given a 2-shard pin sold out (flag set by a refused attempt)
    sale, _ = sharded_sale(api, 2, 500)
    placed = [body_of(order(api, sale, b)) for b in ("ann", "bob")]
    assert body_of(order(api, sale, "cat"))["code"] == "sold_out"
    assert stream_remaining(api, sale) == (0, True)
    # When one order is cancelled
    api.post(f"/v1/orders/{placed[0]['order_id']}/cancel", user="ann")
    # Then the pin shows the unit again and a buyer (of either shard) gets it
    assert stream_remaining(api, sale) == (1, False)
    assert order(api, sale, "dan").status_code == 201


def test_unpin_returns_every_shard_to_the_product(api: ApiClient, clock: Clock) -> None:
    # Given 10 units over 4 shards, 2 of them held by orders
    sale, _ = sharded_sale(api, 10, 1000)
    held = body_of(order(api, sale, "ann"))
    assert order(api, sale, "bob").status_code == 201
    # When the host unpins
    assert api.delete(f"/v1/streams/{sale.stream_id}/pins/{sale.product_id}", user="hana").status_code == 204
    # Then the 8 unsold units are back in the product and the shards keep only what is held
    assert body_of(api.get(f"/v1/products/{sale.product_id}", user="hana"))["stock"] == 8
    assert sum(s[0] for s in shards(sale)) == 2 and sum(s[1] for s in shards(sale)) == 0
    # When a held order is cancelled, its unit goes to the product too
    api.post(f"/v1/orders/{held['order_id']}/cancel", user="ann")
    assert body_of(api.get(f"/v1/products/{sale.product_id}", user="hana"))["stock"] == 9
    assert sum(s[0] for s in shards(sale)) == 1


def test_the_per_buyer_limit_holds_across_shards(api: ApiClient, clock: Clock) -> None:
    # Given 4 units over 4 shards, at most 2 per buyer
    sale, _ = sharded_sale(api, 4, 1000, per_user_limit=2)
    # When one buyer orders three times (the second falls over to another shard)
    answers = [order(api, sale, "ann", key=f"k{i}") for i in range(3)]
    # Then two orders succeed on two shards and the third is over the limit
    assert [a.status_code for a in answers] == [201, 201, 409]
    assert body_of(answers[2])["code"] == "limit_exceeded"
    assert sorted(s[2] for s in shards(sale)) == [0, 0, 1, 1]


def test_the_stream_view_sums_the_shards_in_two_calls(api: ApiClient, clock: Clock, calls: list[str]) -> None:
    # Given 10 units over 4 shards, 3 of them ordered
    sale, _ = sharded_sale(api, 10, 1000)
    for buyer in ("ann", "bob", "cat"):
        assert order(api, sale, buyer).status_code == 201
    warm(api, "viewer")
    # When a viewer opens the stream
    calls.clear()
    # Then remaining is the sum over shards, read with one Query and one BatchGetItem
    assert stream_remaining(api, sale) == (7, False)
    assert calls == ["Query", "BatchGetItem"]


class ConflictingClient:
    """The real (moto) client, except that the next ``failures`` TransactWriteItems fail the way
    DynamoDB reports contention: cancelled with ``TransactionConflict``, or throttled."""

    def __init__(self, client: Any, failures: int, code: str = "TransactionConflict") -> None:
        self._client = client
        self.failures = failures
        self.code = code
        self.attempts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            if self.code == "TransactionConflict":
                reasons = [{"Code": "None"}] * len(kwargs["TransactItems"])
                reasons[1] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                error = {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}}
                raise ClientError({**error, "CancellationReasons": reasons}, "TransactWriteItems")
            raise ClientError({"Error": {"Code": self.code, "Message": "slow down"}}, "TransactWriteItems")
        return self._client.transact_write_items(**kwargs)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch, aws: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Checkout's repository on a ConflictingClient; records the backoff sleeps."""
    from chalicelib.checkout import dal
    from chalicelib.core import clients
    from chalicelib.core.settings import get_settings

    state: dict[str, Any] = {"client": None, "sleeps": []}

    def repository() -> dal.DynamoCheckoutRepository:
        return dal.DynamoCheckoutRepository(
            state["client"] or clients.dynamodb(), get_settings().table_name, sleep=state["sleeps"].append
        )

    monkeypatch.setattr(dal, "repository", repository)
    yield state


@pytest.mark.parametrize("code", ["TransactionConflict", "ProvisionedThroughputExceededException"])
def test_conflicts_are_retried_with_jittered_backoff(
    api: ApiClient, clock: Clock, flaky: dict[str, Any], code: str
) -> None:
    from chalicelib.checkout.dal import BACKOFF_BASE_S
    from chalicelib.core import clients

    # Given a sale whose order transactions conflict twice
    sale, _ = sharded_sale(api, 4, 1000)
    flaky["client"] = ConflictingClient(clients.dynamodb(), failures=2, code=code)
    # When a buyer orders
    response = order(api, sale, "ann")
    # Then the third attempt went through, after two jittered waits within the backoff bounds
    assert response.status_code == 201
    assert flaky["client"].attempts == 3
    assert len(flaky["sleeps"]) == 2
    assert all(0 <= s <= BACKOFF_BASE_S * 2**i for i, s in enumerate(flaky["sleeps"]))
    assert sum(s[2] for s in shards(sale)) == 1


def test_conflicts_past_three_retries_are_a_503_with_retry_after(
    api: ApiClient, clock: Clock, flaky: dict[str, Any]
) -> None:
    from chalicelib.core import clients

    # Given a sale whose order transactions keep conflicting
    sale, _ = sharded_sale(api, 4, 1000)
    flaky["client"] = ConflictingClient(clients.dynamodb(), failures=10)
    # When a buyer orders
    response = order(api, sale, "ann")
    # Then after 1 + 3 attempts the buyer is told to retry later, and nothing was taken
    assert (response.status_code, body_of(response)["code"]) == (503, "unavailable")
    assert response.headers["Retry-After"] == "1"
    assert flaky["client"].attempts == 4 and len(flaky["sleeps"]) == 3
    assert [s[1] for s in shards(sale)] == [1, 1, 1, 1]
    # When the contention is over, the same request (same key) succeeds
    flaky["client"].failures = 0
    assert order(api, sale, "ann").status_code == 201


def test_an_unpin_is_not_starved_by_orders_landing_after_its_read(api: ApiClient, clock: Clock) -> None:
    from chalicelib.checkout.dal import repository

    # Given a 4-shard sale whose shards the host's unpin has just read
    sale, _ = sharded_sale(api, 8, 1000)
    repo = repository()
    found = repo.get_pin_stock(sale.stream_id, sale.product_id)
    assert found is not None
    pin_read, shards_read = found
    # When buyers take units before its write lands
    assert [order(api, sale, b).status_code for b in ("ann", "bob", "cat")] == [201, 201, 201]
    repo.unpin(pin_read, shards_read, clock())
    # Then the unpin still went through: every shard closed and empty, the 5 unsold units back
    # on the product, the 3 held ones still held by their orders
    assert [(s[1], s[2]) for s in shards(sale)] == [(0, h) for _, _, h, _ in shards(sale)]
    assert sum(s[2] for s in shards(sale)) == 3
    product = repo.get_product(sale.product_id)
    assert product is not None and product.stock == 5
    assert body_of(order(api, sale, "dan"))["code"] == "not_found"
