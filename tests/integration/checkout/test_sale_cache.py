"""The order path touches no shared item (chalice test client + moto): a warm container reads
the stream and pin from its sale cache, the transaction writes only the buyer's items, the
order and one stock shard, and a cache that went stale (another container unpinned, re-pinned,
or ended the stream) heals from the home shard it reads anyway. Also the sold-out seal: the
flag is never set over units, whichever of a return and the sold-out decision lands first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ApiClient, body_of
from tests.integration.checkout.conftest import Clock, order, pin
from tests.integration.checkout.test_stock_shards import buyers_homed_at, sharded_sale, warm


@pytest.fixture
def sent(aws: dict[str, str]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """(operation, params) of every DynamoDB call while the test runs."""
    from chalicelib.core import clients

    seen: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        seen.append((model.name, params))

    events = clients.dynamodb().meta.events
    events.register("before-parameter-build.dynamodb", record)
    yield seen
    events.unregister("before-parameter-build.dynamodb", record)


def read_pks(params: dict[str, Any]) -> list[str]:
    """Partition keys a BatchGetItem asked for."""
    [request] = params["RequestItems"].values()
    return [k["pk"]["S"] for k in request["Keys"]]


def written_pks(params: dict[str, Any]) -> list[str]:
    """Partition keys a TransactWriteItems touched."""
    bodies = [next(iter(a.values())) for a in params["TransactItems"]]
    return [(b.get("Key") or b["Item"])["pk"]["S"] for b in bodies]


def other_container(action: Any) -> Any:
    """Run ``action`` as another container would: this one's sale cache is left as it was."""
    from chalicelib.checkout import dal

    kept = dict(dal._sale_cache)
    try:
        return action()
    finally:
        dal._sale_cache.clear()
        dal._sale_cache.update(kept)


def test_a_warm_order_reads_and_writes_no_shared_item(
    api: ApiClient, clock: Clock, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    # Given a sale this container has already sold from
    sale, _ = sharded_sale(api, 40, 2000)
    warm(api, "ann", "bob")
    assert order(api, sale, "ann").status_code == 201
    # When another buyer orders
    sent.clear()
    assert order(api, sale, "bob").status_code == 201
    # Then the read asked for the buyer's record, counter and home shard only, and the
    # transaction wrote no item of the stream's partition or of the seller's own partition
    (read_op, read), (write_op, write) = sent
    assert (read_op, write_op) == ("BatchGetItem", "TransactWriteItems")
    assert not any(pk == f"STREAM#{sale.stream_id}" for pk in read_pks(read))
    assert len(read_pks(read)) == 3
    touched = written_pks(write)
    assert len(touched) == 5 and len(set(touched)) == 5
    assert f"STREAM#{sale.stream_id}" not in touched
    assert "USER#hana" not in touched


def test_a_cached_sold_out_sale_is_refused_from_the_buyers_own_items(
    api: ApiClient, clock: Clock, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    # Given a one-unit sale this container found sold out
    sale, _ = sharded_sale(api, 1, 1000)
    warm(api, "ann", "bob", "cat")
    assert order(api, sale, "ann").status_code == 201
    assert body_of(order(api, sale, "bob"))["code"] == "sold_out"
    # When another buyer tries
    sent.clear()
    refused = order(api, sale, "cat")
    # Then one read of their idempotency record and counter answered it: no shard, no write
    assert (refused.status_code, body_of(refused)["code"]) == (409, "sold_out")
    [(op, params)] = sent
    assert op == "BatchGetItem" and len(read_pks(params)) == 2


def test_a_cache_from_before_another_containers_unpin_does_not_sell(
    api: ApiClient, clock: Clock, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    # Given a sale in this container's cache
    sale, _ = sharded_sale(api, 4, 1000)
    warm(api, "ann", "bob")
    assert order(api, sale, "ann").status_code == 201
    # When another container unpins it
    unpinned = other_container(
        lambda: api.delete(f"/v1/streams/{sale.stream_id}/pins/{sale.product_id}", user="hana")
    )
    assert unpinned.status_code in (200, 204), unpinned.body
    sent.clear()
    refused = order(api, sale, "bob")
    # Then the closed home shard sent this container to a fresh read: 404, no write
    assert (refused.status_code, body_of(refused)["code"]) == (404, "not_found")
    assert [op for op, _ in sent] == ["BatchGetItem", "BatchGetItem"]


def test_a_cache_from_before_a_new_pin_of_the_product_sells_the_new_pin(api: ApiClient, clock: Clock) -> None:
    # Given a sale in this container's cache, unpinned and pinned again elsewhere (new pin id)
    sale, first = sharded_sale(api, 4, 1000)
    assert order(api, sale, "ann").status_code == 201

    def repin() -> Any:
        api.delete(f"/v1/streams/{sale.stream_id}/pins/{sale.product_id}", user="hana")
        return pin(api, "hana", sale.stream_id, sale.product_id, flash_stock=2, per_user_limit=5)

    second = other_container(repin)
    assert second.status_code == 201 and body_of(second)["pin_id"] != first["pin_id"]
    # When a buyer orders
    placed = order(api, sale, "bob")
    # Then the order is on the new pin, at its terms
    assert placed.status_code == 201, placed.body
    from chalicelib.checkout.dal import repository

    stored = repository().get_order(body_of(placed)["order_id"])
    assert stored is not None and stored.pin_id == body_of(second)["pin_id"]


def test_a_return_before_the_sold_out_decision_commits_keeps_the_pin_on_sale(
    api: ApiClient, clock: Clock
) -> None:
    from chalicelib.checkout.dal import repository

    # Given a 2-unit sale whose shards a buyer has just read empty
    sale, _ = sharded_sale(api, 2, 500)
    placed = [body_of(order(api, sale, b)) for b in ("ann", "bob")]
    repo = repository()
    found = repo.get_pin_stock(sale.stream_id, sale.product_id)
    assert found is not None
    pin_read, empty = found
    assert [s.remaining for s in empty] == [0, 0]
    # When a cancel returns a unit before that buyer's sold-out decision is written
    api.post(f"/v1/orders/{placed[0]['order_id']}/cancel", user="ann")
    repo.flag_sold_out(pin_read, empty)
    # Then the pin is not flagged, no shard is sealed, and the unit sells
    after = repo.get_pin_stock(sale.stream_id, sale.product_id)
    assert after is not None
    assert not after[0].sold_out and not any(s.sealed for s in after[1])
    assert order(api, sale, "cat").status_code == 201


def test_a_return_read_before_the_seal_retries_and_clears_the_flag(api: ApiClient, clock: Clock) -> None:
    from chalicelib.checkout import orders
    from chalicelib.checkout.dal import repository
    from chalicelib.checkout.errors import StaleWriteError
    from chalicelib.checkout.models import CANCELLED

    # Given a 2-unit, 2-shard sale sold out, and a cancel that read its shard before the seal
    sale, _ = sharded_sale(api, 2, 500)
    placed = [body_of(order(api, sale, b)) for b in buyers_homed_at(0, 1, 2) + buyers_homed_at(1, 1, 2)]
    repo = repository()
    cancelled = repo.get_order(placed[0]["order_id"])
    assert cancelled is not None
    unsealed = repo.get_stock_shard(sale.stream_id, sale.product_id, cancelled.shard)
    assert unsealed is not None and not unsealed.sealed
    assert body_of(order(api, sale, "cat"))["code"] == "sold_out"
    flagged = repo.get_pin_stock(sale.stream_id, sale.product_id)
    assert flagged is not None and flagged[0].sold_out and all(s.sealed for s in flagged[1])
    # When that cancel commits with what it read, it is refused (the shard is sealed now)
    with pytest.raises(StaleWriteError):
        repo.release(cancelled, CANCELLED, unsealed, clock(), None)
    # And the logic's retry re-reads the shard: the unit is back, unsealed, the flag cleared
    orders.release_order(repo, cancelled, CANCELLED, clock())
    after = repo.get_pin_stock(sale.stream_id, sale.product_id)
    assert after is not None
    assert not after[0].sold_out
    assert [(s.remaining, s.sealed) for s in after[1]][cancelled.shard] == (1, False)
    assert order(api, sale, "dan").status_code == 201


def test_buyers_who_find_the_sale_empty_together_write_the_pin_once(
    api: ApiClient, clock: Clock, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    from chalicelib.checkout.dal import repository

    # Given a sold-through 2-shard sale that two buyers' fallover reads found empty at once
    sale, _ = sharded_sale(api, 2, 500)
    assert [order(api, sale, b).status_code for b in ("ann", "bob")] == [201, 201]
    repo = repository()
    found = repo.get_pin_stock(sale.stream_id, sale.product_id)
    assert found is not None
    pin_read, empty = found
    # When both decide "sold out"
    sent.clear()
    repo.flag_sold_out(pin_read, empty)
    repo.flag_sold_out(pin_read, empty)
    # Then the first sealed the shards and flagged the pin; the second lost on the seals and
    # never wrote the pin (the stream's partition)
    assert [op for op, _ in sent] == ["TransactWriteItems", "UpdateItem", "TransactWriteItems"]
    after = repo.get_pin_stock(sale.stream_id, sale.product_id)
    assert after is not None and after[0].sold_out and all(s.sealed for s in after[1])
