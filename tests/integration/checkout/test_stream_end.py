"""Ending a live stream closes its sales (chalice test client + moto): every active pin is
unpinned as the host's unpin does it, its stock shards marked ``closed_reason = stream_ended``,
so the shards themselves refuse orders; a retried end changes nothing; held units follow their
orders when those are released; and the call budget of an end."""

from __future__ import annotations

from tests.conftest import ApiClient, body_of
from tests.integration.checkout.conftest import Clock, Sale, create_product, order, pin, start_stream
from tests.integration.checkout.test_checkout_api import TEN_MINUTES, sweep


def two_pins(api: ApiClient) -> tuple[Sale, Sale]:
    """Host ``hana``'s live stream with a mug (5 of 10 units, one stock shard) and a hat (4 of 6
    units over 3 stock shards) pinned."""
    stream_id = start_stream(api, "hana")
    mug, hat = create_product(api, "hana", stock=10), create_product(api, "hana", stock=6)
    for product_id, units, peak in ((mug, 5, 250), (hat, 4, 750)):
        response = pin(
            api, "hana", stream_id, product_id, flash_stock=units, expected_peak_orders_per_second=peak
        )
        assert response.status_code == 201, response.body
    return Sale(stream_id, mug), Sale(stream_id, hat)


def stock(api: ApiClient, sale: Sale) -> int:
    return int(body_of(api.get(f"/v1/products/{sale.product_id}", user="hana"))["stock"])


def stored(sale: Sale) -> tuple[tuple[str, str | None], list[tuple[str, str | None, int, int]]]:
    """The pin's (status, closed_reason) and each stock shard's (status, closed_reason,
    remaining, held), as stored."""
    from chalicelib.checkout.dal import repository

    found = repository().get_pin_stock(sale.stream_id, sale.product_id)
    assert found is not None
    pin_, shards = found
    return (pin_.status, pin_.closed_reason), [
        (s.status, s.closed_reason, s.remaining, s.held) for s in shards
    ]


def test_ending_a_stream_closes_its_sales_and_held_units_follow_their_orders(
    api: ApiClient, clock: Clock
) -> None:
    # Given a stream with two pinned products, and pending orders of 2 mugs and 1 hat
    mug, hat = two_pins(api)
    held_mugs = body_of(order(api, mug, "vic", 2))
    held_hat = body_of(order(api, hat, "bob", 1))
    # When the host ends the stream
    ended = api.post(f"/v1/streams/{mug.stream_id}/end", user="hana")
    assert ended.status_code == 200 and body_of(ended)["status"] == "ended"
    # Then both pins are gone from the stream page
    page = body_of(api.get(f"/v1/streams/{mug.stream_id}", user="viewer"))
    assert (page["status"], page["pinned"]) == ("ended", [])
    # And the products got their unsold units back, minus the held ones
    assert (stock(api, mug), stock(api, hat)) == (10 - 2, 6 - 1)
    # And every stock shard (and the pin) is unpinned, closed by the stream's end
    mug_pin, mug_shards = stored(mug)
    hat_pin, hat_shards = stored(hat)
    assert mug_pin == hat_pin == ("unpinned", "stream_ended")
    assert mug_shards == [("unpinned", "stream_ended", 0, 2)]
    assert len(hat_shards) == 3
    assert {s[:3] for s in hat_shards} == {("unpinned", "stream_ended", 0)}
    assert sum(s[3] for s in hat_shards) == 1
    # And a buyer is refused as stream_ended
    refused = order(api, mug, "ann")
    assert (refused.status_code, body_of(refused)["code"]) == (409, "stream_ended")

    # When the host retries the end
    again = api.post(f"/v1/streams/{mug.stream_id}/end", user="hana")
    # Then it is the same ended stream and nothing moved
    assert again.status_code == 200 and body_of(again) == body_of(ended)
    assert (stock(api, mug), stock(api, hat)) == (8, 5)
    assert stored(mug) == (mug_pin, mug_shards) and stored(hat) == (hat_pin, hat_shards)

    # When the hat buyer cancels, and the mug order's hold runs out and the sweeper runs
    cancel = api.post(f"/v1/orders/{held_hat['order_id']}/cancel", user="bob")
    assert cancel.status_code == 200, cancel.body
    clock.advance(TEN_MINUTES)
    assert sweep(api) == {"expired": 1, "refunded": 0}
    # Then their units went back to the products, and the closed shards hold nothing
    assert body_of(api.get(f"/v1/orders/{held_mugs['order_id']}", user="vic"))["status"] == "expired"
    assert (stock(api, mug), stock(api, hat)) == (10, 6)
    assert stored(mug)[1] == [("unpinned", "stream_ended", 0, 0)]
    assert {s for s in stored(hat)[1]} == {("unpinned", "stream_ended", 0, 0)}


def test_a_pin_the_host_unpinned_before_the_end_stays_a_plain_unpin(api: ApiClient, clock: Clock) -> None:
    # Given a stream whose mug the host unpinned before ending it
    mug, hat = two_pins(api)
    assert api.delete(f"/v1/streams/{mug.stream_id}/pins/{mug.product_id}", user="hana").status_code == 204
    # When the host ends the stream
    assert api.post(f"/v1/streams/{mug.stream_id}/end", user="hana").status_code == 200
    # Then only the hat was closed by the end; the mug keeps no closed_reason
    assert stored(mug)[0] == ("unpinned", None)
    assert {s[1] for s in stored(mug)[1]} == {None}
    assert stored(hat)[0] == ("unpinned", "stream_ended")
    assert (stock(api, mug), stock(api, hat)) == (10, 6)
    # And an order of the mug is refused as any order on an ended stream
    refused = order(api, mug, "ann")
    assert (refused.status_code, body_of(refused)["code"]) == (409, "stream_ended")


def test_ending_a_stream_costs_its_transaction_a_query_and_five_calls_per_active_pin(
    api: ApiClient, clock: Clock, calls: list[str]
) -> None:
    # Given a stream with two active pins, and a warm caller (activity stamp written)
    mug, _ = two_pins(api)
    api.get("/v1/me", user="hana")
    # When the host ends it
    calls.clear()
    assert api.post(f"/v1/streams/{mug.stream_id}/end", user="hana").status_code == 200
    # Then: live's read and transaction, ONE consistent Query of the pins, and per active pin
    # the unpin's pin and shard reads, the freeze, the shards again and the drain
    per_pin = ["GetItem", "BatchGetItem", "TransactWriteItems", "BatchGetItem", "TransactWriteItems"]
    assert calls == ["GetItem", "TransactWriteItems", "Query", *per_pin, *per_pin]
    # When the end is retried
    calls.clear()
    assert api.post(f"/v1/streams/{mug.stream_id}/end", user="hana").status_code == 200
    # Then it reads META, the pins and the closed pins' shards (nothing left to drain): no write
    assert calls == ["GetItem", "Query", *["GetItem", "BatchGetItem"] * 2]
