"""The seller's sale pointers over 32 partitions and the pending index over 32 buckets
(chalice test client + moto): listing, pagination across shards and the legacy partition,
old cursors, and the sweeper reading every bucket."""

from __future__ import annotations

import zlib
from typing import Any

from chalicelib.core import keys
from chalicelib.core.ddb import deserialize, serialize
from tests.conftest import ApiClient, body_of
from tests.integration.checkout.conftest import Clock, Sale, create_product, order, pin, start_stream

TEN_MINUTES = 10 * 60 * 1000


def _table() -> tuple[Any, str]:
    from chalicelib.core import clients
    from chalicelib.core.settings import get_settings

    return clients.dynamodb(), get_settings().table_name


def _item(key: dict[str, str]) -> dict[str, Any] | None:
    client, table = _table()
    out = client.get_item(TableName=table, Key=serialize(key), ConsistentRead=True)
    return deserialize(out.get("Item"))


def _big_sale(api: ApiClient, seller: str, units: int) -> Sale:
    """``units`` units of a product pinned on ``seller``'s live stream, one per buyer."""
    stream_id = start_stream(api, seller)
    product_id = create_product(api, seller, stock=units)
    response = pin(api, seller, stream_id, product_id, flash_stock=units, per_user_limit=5)
    assert response.status_code == 201, response.body
    return Sale(stream_id, product_id)


def _buy(api: ApiClient, sale: Sale, buyer: str, key: str | None = None) -> str:
    response = order(api, sale, buyer, key=key)
    assert response.status_code == 201, response.body
    return str(body_of(response)["order_id"])


def _make_legacy(seller: str, order_id: str) -> None:
    """Move an order's pointer where it lived before the sharding: ``USER#seller / SALE#id``."""
    client, table = _table()
    pointer = _item(keys.sale(seller, order_id))
    assert pointer is not None
    client.delete_item(TableName=table, Key=serialize(keys.sale(seller, order_id)))
    client.put_item(TableName=table, Item=serialize({**pointer, **keys.legacy_sale(seller, order_id)}))


def _seller_pages(api: ApiClient, seller: str, limit: int) -> list[list[str]]:
    pages, cursor = [], ""
    for _ in range(20):  # a listing that never ends fails here, not by timing out
        path = f"/v1/me/orders?role=seller&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        body = body_of(api.get(path, user=seller))
        pages.append([o["order_id"] for o in body["items"]])
        if not body["next_cursor"]:
            return pages
        cursor = body["next_cursor"]
    raise AssertionError(f"still paging after 20 pages: {pages}")


def test_a_new_orders_pointer_lands_in_the_shard_its_id_hashes_to(api: ApiClient, clock: Clock) -> None:
    # Given a sale
    sale = _big_sale(api, "hana", 1)
    # When a buyer orders
    order_id = _buy(api, sale, "vic")
    # Then the seller's pointer is in USER#hana#SALES#<crc32(id) % 32>, not in USER#hana
    shard = zlib.crc32(order_id.encode()) % 32
    pointer = _item(keys.key(f"USER#hana#SALES#{shard:02d}", f"SALE#{order_id}"))
    assert pointer is not None and pointer["order_id"] == order_id and pointer["buyer_id"] == "vic"
    assert _item(keys.key("USER#hana", f"SALE#{order_id}")) is None


def test_45_sales_list_20_20_5_newest_first_across_shards(api: ApiClient, clock: Clock) -> None:
    # Given 45 orders of one seller (their pointers spread over the 32 partitions)
    sale = _big_sale(api, "hana", 45)
    ids = [_buy(api, sale, f"b{n:02d}") for n in range(45)]
    assert len({keys.sale("hana", i)[keys.PK] for i in ids}) > 10
    # When the seller pages through them 20 at a time
    pages = _seller_pages(api, "hana", 20)
    # Then 20, 20 and 5 orders, newest first, each exactly once
    assert [len(p) for p in pages] == [20, 20, 5]
    assert [i for p in pages for i in p] == sorted(ids, reverse=True)


def test_a_legacy_pointer_is_listed_in_its_place(api: ApiClient, clock: Clock) -> None:
    # Given 5 orders, two of them with their pointer still in the legacy partition USER#hana
    # (which also holds hana's product pointer and profile, sorting below SALE#)
    sale = _big_sale(api, "hana", 5)
    ids = sorted((_buy(api, sale, f"b{n}") for n in range(5)), reverse=True)
    for legacy in (ids[1], ids[4]):
        _make_legacy("hana", legacy)
    assert api.patch("/v1/me/settings", {"dm_policy": "everyone"}, user="hana").status_code == 200
    # When the seller pages through them 2 at a time
    pages = _seller_pages(api, "hana", 2)
    # Then the legacy ones come in their place by time, nothing else from USER#hana shows
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]


def test_a_cursor_from_before_the_sharding_continues_where_it_was(api: ApiClient, clock: Clock) -> None:
    from chalicelib.core.cursor import encode_cursor
    from chalicelib.core.settings import get_settings

    # Given 4 orders and a cursor issued by the unsharded listing after the second newest
    sale = _big_sale(api, "hana", 4)
    ids = sorted((_buy(api, sale, f"b{n}") for n in range(4)), reverse=True)
    old = {"pk": "USER#hana", "sk": f"SALE#{ids[1]}"}
    cursor = encode_cursor(get_settings().cursor_secret, "hana", "orders:seller", old)
    # When the seller follows it
    body = body_of(api.get(f"/v1/me/orders?role=seller&limit=5&cursor={cursor}", user="hana"))
    # Then the listing continues after that order
    assert [o["order_id"] for o in body["items"]] == ids[2:]
    assert body["next_cursor"] is None


def test_a_buyers_listing_pages_as_before(api: ApiClient, clock: Clock) -> None:
    # Given a buyer with 3 orders
    sale = _big_sale(api, "hana", 3)
    ids = sorted((_buy(api, sale, "vic", key=f"k{n}") for n in range(3)), reverse=True)
    # When they page through them 2 at a time
    first = body_of(api.get("/v1/me/orders?role=buyer&limit=2", user="vic"))
    rest = body_of(api.get(f"/v1/me/orders?role=buyer&limit=2&cursor={first['next_cursor']}", user="vic"))
    # Then 2 + 1, newest first
    assert [o["order_id"] for o in first["items"] + rest["items"]] == ids
    assert rest["next_cursor"] is None


def test_the_sweeper_expires_orders_in_every_bucket_old_and_new(api: ApiClient, clock: Clock) -> None:
    # Given two pending orders indexed in buckets 8..31 (the new modulus) ...
    sale = _big_sale(api, "hana", 20)
    high = []
    for n in range(20):
        order_id = _buy(api, sale, f"b{n:02d}")
        if zlib.crc32(order_id.encode()) % 32 >= 8:
            high.append(order_id)
        if len(high) == 2:
            break
    new, old = high
    assert str((_item(keys.order(new)) or {})["gsi2pk"]) == f"PENDING#{zlib.crc32(new.encode()) % 32}"
    # ... one of them moved to the bucket the old modulus (8) gave it, as if written before
    client, table = _table()
    client.update_item(
        TableName=table,
        Key=serialize(keys.order(old)),
        UpdateExpression="SET gsi2pk = :b",
        ExpressionAttributeValues=serialize({":b": f"PENDING#{zlib.crc32(old.encode()) % 8}"}),
    )
    # When their holds end and the sweeper runs
    clock.advance(TEN_MINUTES)
    event = api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    api.client.lambda_.invoke("checkout_expire_orders", event)
    # Then both are expired and out of the index
    for order_id in (new, old):
        stored = _item(keys.order(order_id)) or {}
        assert stored["status"] == "expired" and "gsi2pk" not in stored
