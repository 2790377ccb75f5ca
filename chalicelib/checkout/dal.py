"""DynamoDB access of the checkout domain: the only module here that knows keys and boto3.

Every change that moves stock or money is ONE ``TransactWriteItems``; cancellations are mapped
to domain errors by the index of the failed action (never by message text).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.checkout.errors import (
    AlreadyPinnedError,
    DuplicateEventError,
    IdempotencyReplay,
    IllegalTransitionError,
    InsufficientStockError,
    LimitExceededError,
    PinExpiredError,
    PinNotFoundError,
    ProductNotFoundError,
    ShardShortError,
    SoldOutError,
    StaleWriteError,
    StreamEndedError,
)
from chalicelib.checkout.models import (
    CANCELLED,
    CLOSED_STREAM_ENDED,
    EXPIRED,
    PAID,
    PAYMENT_FAILED,
    PENDING,
    PIN_ACTIVE,
    PIN_UNPINNED,
    REFUND_PENDING,
    REFUNDED,
    IdempotencyRecord,
    Order,
    OrderPage,
    PaymentIntent,
    Pin,
    Product,
    StockShard,
    Stream,
    with_stock,
)
from chalicelib.checkout.ports import OrderContext, Role, SettleMode
from chalicelib.checkout.stock_shards import home_shard
from chalicelib.core import clients, idempotency, keys, tx
from chalicelib.core.clock import iso_from_ms
from chalicelib.core.ddb import (
    ConditionFailed,
    Item,
    TransactionCancelled,
    batch_delete,
    batch_get,
    call,
    deserialize,
    get_item,
    item_key,
    query_all,
    query_page,
    serialize,
    values,
)
from chalicelib.core.errors import InvalidCursorError, UnavailableError
from chalicelib.core.idempotency import IDEMPOTENCY_TTL_SECONDS
from chalicelib.core.observability import logger
from chalicelib.core.settings import get_settings

# Stripe retries a delivery for up to 3 days; 30 days of markers cover it with margin.
PAYMENT_EVENT_TTL_SECONDS = 30 * 24 * 3600
ALL_OLD = "ALL_OLD"
# TransactionConflict / throttling: retried inside the request, then 503 with Retry-After.
CONFLICT_RETRIES = 3
BACKOFF_BASE_S = 0.025
# TransactWriteItems takes at most 100 actions: create_pin has 4 fixed ones, unpin 2.
PIN_TX_SHARDS = 96
UNPIN_TX_SHARDS = 98
MAX_TX_ACTIONS = 100
# The sale cache. A pin's settings (price, limit, shard count, end time) never change while it
# is pinned, and what does change (its status, the stream's end, stock) is guarded by the
# conditions on the stock shard the order writes. So a container keeps the stream and pin it
# read for SALE_CACHE_S and an order's first round trip reads only the buyer's own items and
# home shard: the stream partition takes 2 reads per container per 5 s instead of 2 per order
# (3,000 RCU/s per partition ÷ 0.4 = 7,500 warm containers). A home shard that disagrees with
# the cached pin (unpinned, closed at the stream's end, a newer pin) sends the order to a
# fresh read; refusals (no pin, unpinned, ended stream) are kept only 1 s.
SALE_CACHE_S = 5.0
REFUSAL_CACHE_S = 1.0
_SALE_CACHE_MAX = 4096


@dataclass(frozen=True)
class _CachedSale:
    stream: Stream | None
    pin: Pin | None
    read_at: float
    sold_out: bool = False

    def fresh(self, now: float) -> bool:
        orderable = self.pin is not None and self.pin.status == PIN_ACTIVE
        live = self.stream is not None and self.stream.status == "live"
        ttl = SALE_CACHE_S if orderable and live else REFUSAL_CACHE_S
        return now - self.read_at < ttl


_sale_cache: dict[tuple[str, str, str], _CachedSale] = {}


class _NotSealedError(Exception):
    """The sold-out seal did not commit (see ``flag_sold_out``)."""


def reset_sale_cache() -> None:
    """Empty this container's sale cache (tests that rewrite the table underneath it)."""
    _sale_cache.clear()


# The seller listing's 33 Queries (32 pointer shards + the legacy partition) run on this many
# threads of the shared client: botocore pools 10 connections per client by default.
SALE_QUERY_WORKERS = 10
# Every counter attribute goes through a name placeholder (``status`` is a reserved word).
NAMES = {
    "#st": "status",
    "#rem": "remaining",
    "#held": "held",
    "#sold": "sold",
    "#pinned": "pinned",
    "#units": "units",
    "#stock": "stock",
    "#ver": "version",
    "#ret": "returns",
}


# States a refund may start from: paid (seller or Stripe dashboard), refund_pending (an automatic
# refund being retried), and the released states a late payment lands on.
REFUNDABLE = (PAID, REFUND_PENDING, EXPIRED, CANCELLED, PAYMENT_FAILED)


def _names(expression: str) -> dict[str, str]:
    """Only the placeholders an expression uses (DynamoDB rejects unused ones)."""
    used = set(re.findall(r"#\w+", expression))
    return {k: v for k, v in NAMES.items() if k in used}


# --- item mapping ------------------------------------------------------------------------------


def product_item(p: Product) -> Item:
    """A product as stored."""
    return {
        **keys.product(p.product_id),
        "entity": "product",
        "product_id": p.product_id,
        "seller_id": p.seller_id,
        "title": p.title,
        "price_cents": p.price_cents,
        "currency": p.currency,
        "stock": p.stock,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "version": p.version,
    }


def product_from(item: Item) -> Product:
    """A stored product."""
    return Product(
        product_id=item["product_id"],
        seller_id=item["seller_id"],
        title=item["title"],
        price_cents=int(item["price_cents"]),
        currency=item["currency"],
        stock=int(item["stock"]),
        created_at=item.get("created_at", ""),
        updated_at=item.get("updated_at", ""),
        version=int(item.get("version", 0)),
    )


def pin_item(p: Pin) -> Item:
    """A pin as stored (``ends_at_ms`` omitted when the pin lasts until unpinned)."""
    return {
        **keys.pin(p.stream_id, p.product_id),
        "entity": "pin",
        "stream_id": p.stream_id,
        "product_id": p.product_id,
        "pin_id": p.pin_id,
        "seller_id": p.seller_id,
        "title": p.title,
        "price_cents": p.price_cents,
        "flash_price_cents": p.flash_price_cents,
        "currency": p.currency,
        "per_user_limit": p.per_user_limit,
        "pinned": p.pinned,
        "remaining": p.remaining,
        "held": p.held,
        "sold": p.sold,
        "sold_out": p.sold_out,
        "status": p.status,
        "ends_at_ms": p.ends_at_ms,
        "ends_at": iso_from_ms(p.ends_at_ms) if p.ends_at_ms is not None else None,
        "created_at": p.created_at,
        "shards": p.shards,
        "returns": p.returns,
        "expected_peak_orders_per_second": p.expected_peak_orders_per_second,
    }


def pin_from(item: Item) -> Pin:
    """A stored pin."""
    return Pin(
        stream_id=item["stream_id"],
        product_id=item["product_id"],
        pin_id=item["pin_id"],
        seller_id=item["seller_id"],
        title=item["title"],
        price_cents=int(item["price_cents"]),
        currency=item["currency"],
        per_user_limit=int(item["per_user_limit"]),
        pinned=int(item["pinned"]),
        remaining=int(item["remaining"]),
        held=int(item.get("held", 0)),
        sold=int(item.get("sold", 0)),
        sold_out=bool(item.get("sold_out", False)),
        status=item.get("status", PIN_ACTIVE),
        flash_price_cents=item.get("flash_price_cents"),
        ends_at_ms=item.get("ends_at_ms"),
        created_at=item.get("created_at", ""),
        shards=int(item.get("shards", 1)),
        returns=int(item.get("returns", 0)),
        expected_peak_orders_per_second=int(item.get("expected_peak_orders_per_second", 1000)),
        closed_reason=item.get("closed_reason"),
    )


def stock_shard_item(pin: Pin, s: StockShard) -> Item:
    """A stock shard as stored; it copies what an order's condition needs (pin id, status,
    end time), so the order transaction never touches the pin item."""
    return {
        **keys.pin_stock_shard(pin.stream_id, pin.product_id, s.shard),
        "entity": "pin_stock",
        "stream_id": pin.stream_id,
        "product_id": pin.product_id,
        "pin_id": s.pin_id,
        "shard": s.shard,
        "units": s.units,
        "remaining": s.remaining,
        "held": s.held,
        "sold": s.sold,
        "status": s.status,
        "ends_at_ms": pin.ends_at_ms,
    }


def stock_shard_from(item: Item) -> StockShard:
    """A stored stock shard."""
    return StockShard(
        shard=int(item["shard"]),
        pin_id=str(item["pin_id"]),
        units=int(item["units"]),
        remaining=int(item["remaining"]),
        held=int(item.get("held", 0)),
        sold=int(item.get("sold", 0)),
        status=str(item.get("status", PIN_ACTIVE)),
        sealed=bool(item.get("sealed", False)),
        closed_reason=item.get("closed_reason"),
    )


def _home_from(
    found: dict[tuple[str, str], Item], key: dict[str, str] | None, pin: Pin | None
) -> StockShard | None:
    """The home shard read with ``key``, if it is a shard of ``pin`` (else None)."""
    item = found.get(item_key(key)) if key else None
    if item is None or pin is None:
        return None
    shard = stock_shard_from(item)
    if shard.pin_id != pin.pin_id or shard.shard >= pin.shards:
        return None
    return shard


def shard_keys(pin: Pin) -> list[dict[str, str]]:
    """The keys of a pin's S stock shards."""
    return [keys.pin_stock_shard(pin.stream_id, pin.product_id, k) for k in range(pin.shards)]


def order_item(o: Order) -> Item:
    """An order as stored; the sparse pending index entry exists only while pending."""
    item: Item = {
        **keys.order(o.order_id),
        **keys.buyer_orders(o.buyer_id, o.order_id),
        "entity": "order",
        "order_id": o.order_id,
        "buyer_id": o.buyer_id,
        "seller_id": o.seller_id,
        "stream_id": o.stream_id,
        "product_id": o.product_id,
        "pin_id": o.pin_id,
        "quantity": o.quantity,
        "unit_price_cents": o.unit_price_cents,
        "amount_cents": o.amount_cents,
        "currency": o.currency,
        "status": o.status,
        "created_at": o.created_at,
        "updated_at": o.updated_at,
        "expires_at_ms": o.expires_at_ms,
        "expires_at": iso_from_ms(o.expires_at_ms),
        "payment": {
            "provider": o.payment.provider,
            "payment_intent_id": o.payment.payment_intent_id,
            "client_secret": o.payment.client_secret,
        },
        "shard": o.shard,
    }
    if o.status == PENDING:
        item.update(keys.pending_order(o.expires_at_ms, o.order_id))
    if o.refund_id is not None:
        item.update(refund_id=o.refund_id, refunded_at=o.refunded_at)
    if o.refunded_cents:
        item["refunded_cents"] = o.refunded_cents
    if o.refund_reason is not None:
        item["refund_reason"] = o.refund_reason
    if o.disputed:
        item["disputed"] = True
    return item


def order_from(item: Item) -> Order:
    """A stored order."""
    payment = item.get("payment") or {}
    return Order(
        order_id=item["order_id"],
        buyer_id=item["buyer_id"],
        seller_id=item["seller_id"],
        stream_id=item["stream_id"],
        product_id=item["product_id"],
        pin_id=item["pin_id"],
        quantity=int(item["quantity"]),
        unit_price_cents=int(item["unit_price_cents"]),
        amount_cents=int(item["amount_cents"]),
        currency=item["currency"],
        status=item["status"],
        created_at=item.get("created_at", ""),
        updated_at=item.get("updated_at", ""),
        expires_at_ms=int(item["expires_at_ms"]),
        payment=PaymentIntent(
            provider=str(payment.get("provider", "")),
            payment_intent_id=str(payment.get("payment_intent_id", "")),
            client_secret=str(payment.get("client_secret", "")),
        ),
        refund_id=item.get("refund_id"),
        refunded_at=item.get("refunded_at"),
        refunded_cents=int(item.get("refunded_cents", 0)),
        refund_reason=item.get("refund_reason"),
        disputed=bool(item.get("disputed", False)),
        shard=int(item.get("shard", 0)),
    )


def stream_from(stream_id: str, item: Item) -> Stream:
    """The live domain's stream META item, as far as checkout cares."""
    return Stream(
        stream_id=stream_id, host_id=str(item.get("host_id", "")), status=str(item.get("status", ""))
    )


def _sale_order_id(raw: dict[str, Any]) -> str:
    """The order id of a (serialized) sale pointer, from its sort key."""
    return str((deserialize(raw) or {})[keys.SK])[len(keys.SALE_PREFIX) :]


def _sales_before(start: dict[str, Any] | None) -> str | None:
    """The seller listing's position: the last order id returned. A cursor issued before the
    pointers were sharded holds the legacy partition's LastEvaluatedKey (pk/sk): its sort key
    names the same position."""
    if not start:
        return None
    before = start.get("before")
    old_sk = start.get(keys.SK)
    if before is None and isinstance(old_sk, str) and old_sk.startswith(keys.SALE_PREFIX):
        before = old_sk[len(keys.SALE_PREFIX) :]
    if not isinstance(before, str) or not before:
        raise InvalidCursorError("The cursor is malformed.")
    return before


# --- repository ----------------------------------------------------------------------------------


class DynamoCheckoutRepository:
    """:class:`chalicelib.checkout.ports.CheckoutRepository` on the single table."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ddb = client
        self._table = table
        self._sleep = sleep
        self._jitter = jitter
        self._monotonic = monotonic

    # -- helpers

    def _get(self, key: dict[str, str], consistent: bool = True) -> Item | None:
        return get_item(self._ddb, self._table, key, consistent=consistent)

    def _batch_get(self, wanted: list[dict[str, str]]) -> dict[tuple[str, str], Item]:
        """BatchGetItem (strongly consistent), retrying unprocessed keys; keyed by (pk, sk)."""
        return batch_get(self._ddb, self._table, wanted)

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        """TransactWriteItems; a ``TransactionConflict`` or throttling (``UnavailableError``
        from the translation) is retried up to 3 times with full-jitter backoff (every checkout
        transaction is idempotent: conditions make a repeat fail, not double-apply), then
        raised as 503 ``unavailable`` with ``Retry-After: 1``."""
        try:
            tx.transact_retrying(
                self._ddb,
                actions,
                attempts=CONFLICT_RETRIES + 1,
                backoff_s=BACKOFF_BASE_S,
                sleep=self._sleep,
                jitter=self._jitter,
            )
        except UnavailableError as err:
            raise UnavailableError("The sale is busy right now; retry.") from err

    # -- products

    def get_product(self, product_id: str) -> Product | None:
        """GetItem PRODUCT#id (an unlisted product is gone for every reader)."""
        item = self._get(keys.product(product_id))
        return product_from(item) if item and not item.get("unlisted") else None

    # -- account deletion (issue 20)

    def products_of(self, seller_id: str) -> list[str]:
        """Ids of a seller's products (Query ``USER#seller`` begins_with ``PRODUCT#``, paged)."""
        prefix = keys.seller_product(seller_id, "")
        return [
            str(item["product_id"])
            for item in query_all(
                self._ddb,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                ExpressionAttributeValues=values(pk=prefix[keys.PK], p=prefix[keys.SK]),
                ProjectionExpression="product_id",
            )
        ]

    def unlist_product(self, product_id: str, now_ms: int) -> None:
        """UpdateItem ``unlisted = true`` (off the seller index; repeating it is harmless)."""
        tx.write_if(
            self._ddb,
            tx.update(
                self._table,
                keys.product(product_id),
                "SET unlisted = :t, updated_at = :u",
                condition="attribute_exists(pk)",
                t=True,
                u=iso_from_ms(now_ms),
            ),
        )

    def order_ids_of_buyer(self, buyer_id: str) -> list[str]:
        """Ids of every order of a buyer (GSI1, paged)."""
        return [
            str(item["order_id"])
            for item in query_all(
                self._ddb,
                TableName=self._table,
                IndexName=keys.GSI1,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues=values(pk=keys.buyer_orders_pk(buyer_id)),
                ProjectionExpression="order_id",
            )
        ]

    def _has_products(self, seller_id: str) -> bool:
        prefix = keys.seller_product(seller_id, "")
        out = call(
            self._ddb.query,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues=values(pk=prefix[keys.PK], p=prefix[keys.SK]),
            ProjectionExpression="pk",
            ConsistentRead=True,
            Limit=1,
        )
        return bool(out.get("Items"))

    def order_ids_of_seller(self, seller_id: str) -> list[str]:
        """Ids of every order of a seller, newest first: every page of the 32 pointer
        partitions and of the legacy ``USER#seller`` / ``SALE#`` (33 paged Queries, strongly
        consistent, run concurrently). A user who never listed a product has no pointer (an
        order needs a pin of their product, and ``PRODUCT#`` entries are never deleted before
        the account's partition is): then ONE Query of ``USER#u`` begins_with ``PRODUCT#``
        (``Limit`` 1) answers, and erasing or exporting a non-seller skips the 33."""
        if not self._has_products(seller_id):
            return []
        partitions = [*keys.sale_partitions(seller_id), keys.legacy_sales(seller_id)[keys.PK]]

        def ids_in(pk: str) -> list[str]:
            return [
                str(item[keys.SK])[len(keys.SALE_PREFIX) :]
                for item in query_all(
                    self._ddb,
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :sale)",
                    ExpressionAttributeValues=values(pk=pk, sale=keys.SALE_PREFIX),
                    ProjectionExpression="sk",
                    ConsistentRead=True,
                )
            ]

        with ThreadPoolExecutor(max_workers=SALE_QUERY_WORKERS) as pool:
            found = [i for ids in pool.map(ids_in, partitions) for i in ids]
        return sorted(set(found), reverse=True)

    def forget_sales(self, seller_id: str, order_ids: list[str]) -> None:
        """Delete the seller's pointers to these orders, sharded and legacy (BatchWriteItem,
        25 per call; deleting one that is not there is harmless). An account erasure calls it
        once the orders are settled: the pointers are the seller's data."""
        batch_delete(
            self._ddb,
            self._table,
            [k for i in order_ids for k in (keys.sale(seller_id, i), keys.legacy_sale(seller_id, i))],
        )

    def pseudonymise_order(self, order_id: str, role: str, user_id: str, pseudonym: str) -> bool:
        """Replace the buyer's or seller's id on a kept order by ``pseudonym`` (a buyer's order
        also leaves the buyer index). False when it was done already."""
        attribute = "buyer_id" if role == "buyer" else "seller_id"
        index = " REMOVE gsi1pk, gsi1sk" if role == "buyer" else ""
        return tx.write_if(
            self._ddb,
            tx.update(
                self._table,
                keys.order(order_id),
                f"SET {attribute} = :p, pseudonymised = :t{index}",
                condition=f"{attribute} = :u",
                p=pseudonym,
                t=True,
                u=user_id,
            ),
        )

    def create_product(self, product: Product) -> None:
        """One TransactWriteItems: the product (the id is new) and the seller's pointer to it
        (``USER#seller / PRODUCT#id``: an account deletion finds the seller's products without
        an index on the product item, which every order updates)."""
        pointer = {
            **keys.seller_product(product.seller_id, product.product_id),
            "entity": "seller_product",
            "product_id": product.product_id,
        }
        self._transact(
            [
                tx.put(self._table, product_item(product), condition="attribute_not_exists(pk)"),
                tx.put(self._table, pointer),
            ]
        )

    def save_product(self, product: Product, expected_version: int) -> None:
        """UpdateItem of the editable fields, conditioned on the version read."""
        try:
            call(
                self._ddb.update_item,
                TableName=self._table,
                Key=serialize(keys.product(product.product_id)),
                UpdateExpression="SET title = :t, price_cents = :p, #stock = :s, updated_at = :u, #ver = :nv",
                ConditionExpression="#ver = :v",
                ExpressionAttributeNames=_names("#stock #ver"),
                ExpressionAttributeValues=values(
                    t=product.title,
                    p=product.price_cents,
                    s=product.stock,
                    u=product.updated_at,
                    nv=product.version,
                    v=expected_version,
                ),
            )
        except ConditionFailed as err:
            raise StaleWriteError("The product changed; retry.") from err

    # -- streams and pins

    def get_stream(self, stream_id: str) -> Stream | None:
        """GetItem STREAM#id/META (owned by the live domain)."""
        item = self._get(keys.stream(stream_id))
        return stream_from(stream_id, item) if item else None

    def get_stream_and_product(self, stream_id: str, product_id: str) -> tuple[Stream | None, Product | None]:
        """One BatchGetItem."""
        s_key, p_key = keys.stream(stream_id), keys.product(product_id)
        found = self._batch_get([s_key, p_key])
        s_item, p_item = found.get(item_key(s_key)), found.get(item_key(p_key))
        return (
            stream_from(stream_id, s_item) if s_item else None,
            product_from(p_item) if p_item else None,
        )

    def get_pin(self, stream_id: str, product_id: str) -> Pin | None:
        """GetItem STREAM#sid/PIN#pid (strongly consistent); stock counters as created."""
        item = self._get(keys.pin(stream_id, product_id))
        return pin_from(item) if item else None

    def get_pin_stock(self, stream_id: str, product_id: str) -> tuple[Pin, list[StockShard]] | None:
        """GetItem of the pin + one BatchGetItem of its S shards; the pin's stock summed."""
        pin = self.get_pin(stream_id, product_id)
        if pin is None:
            return None
        shards = self.read_shards(pin)
        return with_stock(pin, shards), shards

    def read_shards(self, pin: Pin, consistent: bool = True) -> list[StockShard]:
        """One BatchGetItem of the pin's S (≤ 100) stock shards."""
        found = batch_get(self._ddb, self._table, shard_keys(pin), consistent=consistent)
        return sorted((stock_shard_from(item) for item in found.values()), key=lambda s: s.shard)

    def get_stock_shard(self, stream_id: str, product_id: str, shard: int) -> StockShard | None:
        """GetItem PINSTOCK#sid#pid#k/STOCK (strongly consistent)."""
        item = self._get(keys.pin_stock_shard(stream_id, product_id, shard))
        return stock_shard_from(item) if item else None

    def _pins_with_stock(self, pins: list[Pin]) -> list[Pin]:
        """Active pins get ``remaining`` summed over their shards: ONE eventually consistent
        BatchGetItem for all of them (per 100 shard keys)."""
        active = [p for p in pins if p.status == PIN_ACTIVE]
        wanted = [k for p in active for k in shard_keys(p)]
        found = batch_get(self._ddb, self._table, wanted, consistent=False) if wanted else {}
        out = []
        for pin in pins:
            if pin.status != PIN_ACTIVE:
                out.append(pin)
                continue
            mine = [found.get(item_key(k)) for k in shard_keys(pin)]
            out.append(with_stock(pin, [stock_shard_from(i) for i in mine if i]))
        return out

    def list_pins(self, stream_id: str) -> list[Pin]:
        """Query pk = STREAM#sid AND begins_with(sk, PIN#), then one BatchGetItem of the active
        pins' stock shards (``remaining`` = the sum over shards)."""
        items = query_all(
            self._ddb,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :pin)",
            ExpressionAttributeValues=values(pk=keys.stream_pk(stream_id), pin=keys.PIN_PREFIX),
        )
        return self._pins_with_stock([pin_from(item) for item in items])

    def stream_pins(self, stream_id: str) -> list[Pin]:
        """ONE strongly consistent Query pk = STREAM#sid AND begins_with(sk, PIN#) (paged): every
        pin of the stream as stored, its stock counters as created (no shard read)."""
        items = query_all(
            self._ddb,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :pin)",
            ExpressionAttributeValues=values(pk=keys.stream_pk(stream_id), pin=keys.PIN_PREFIX),
            ConsistentRead=True,
        )
        return [pin_from(item) for item in items]

    def stream_page(self, stream_id: str) -> tuple[Item | None, list[Pin]]:
        """The stream page in 2 calls: ONE Query of the stream partition from META to the last
        PIN# (META and every pin), then ONE BatchGetItem of the active pins' stock shards."""
        items = query_all(
            self._ddb,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :meta AND :end",
            ExpressionAttributeValues=values(
                pk=keys.stream_pk(stream_id), meta=keys.STREAM_META_SK, end=keys.PIN_RANGE_END
            ),
        )
        meta = next((i for i in items if i.get("sk") == keys.STREAM_META_SK), None)
        pins = [pin_from(i) for i in items if str(i.get("sk", "")).startswith(keys.PIN_PREFIX)]
        return meta, self._pins_with_stock(pins)

    def create_pin(self, pin: Pin, shards: list[StockShard], message: dict[str, Any]) -> None:
        """One transaction: product stock -= units, Put pin, stream still live, Put chat message,
        Put the stock shards (up to 96; a larger S stores the rest, with their own product
        decrement, in a second transaction)."""
        first, rest = shards[:PIN_TX_SHARDS], shards[PIN_TX_SHARDS:]
        units = sum(s.units for s in first)
        actions = [
            tx.update(
                self._table,
                keys.product(pin.product_id),
                "SET #stock = #stock - :n, updated_at = :u ADD #version :one",
                condition="attribute_exists(pk) AND seller_id = :seller AND #stock >= :all",
                return_old_on_failure=True,
                n=units,
                all=pin.pinned,
                u=pin.created_at,
                one=1,
                seller=pin.seller_id,
            ),
            tx.put(
                self._table,
                pin_item(pin),
                # A previous pin of this product may be replaced once it is unpinned (its
                # shards that are overwritten must hold nothing: see _shard_puts).
                condition="attribute_not_exists(pk) OR #status = :unpinned",
                unpinned=PIN_UNPINNED,
            ),
            tx.check(
                self._table,
                keys.stream(pin.stream_id),
                "#status = :live AND host_id = :host",
                live="live",
                host=pin.seller_id,
            ),
            # live's item (its builder gave the key, shard and TTL)
            tx.put(self._table, message, condition="attribute_not_exists(pk)"),
            *self._shard_puts(pin, first),
        ]
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            if err.failed(0):
                if err.item(0) is None:
                    raise ProductNotFoundError("Product not found.") from err
                raise InsufficientStockError("The product does not have that much stock.") from err
            if err.failed(1) or any(err.failed(i) for i in range(4, len(actions))):
                raise AlreadyPinnedError("The product is already pinned on this stream.") from err
            if err.failed(2):
                raise StreamEndedError("The stream has ended.") from err
            raise UnavailableError("Could not pin the product; retry.") from err
        _sale_cache.pop((self._table, pin.stream_id, pin.product_id), None)
        if rest:
            self._create_more_shards(pin, rest)

    def _shard_puts(self, pin: Pin, shards: list[StockShard]) -> list[dict[str, Any]]:
        return [
            tx.put(
                self._table,
                stock_shard_item(pin, s),
                condition="attribute_not_exists(pk)"
                " OR (#status = :unpinned AND #held = :zero AND #remaining = :zero)",
                unpinned=PIN_UNPINNED,
                zero=0,
            )
            for s in shards
        ]

    def _create_more_shards(self, pin: Pin, shards: list[StockShard]) -> None:
        """Shards 96..S-1 with their own product decrement, so a refusal strands nothing: the
        pin then simply has fewer units (orders hashing there fall over)."""
        units = sum(s.units for s in shards)
        actions = [
            tx.update(
                self._table,
                keys.product(pin.product_id),
                "SET #stock = #stock - :n ADD #version :one",
                condition="attribute_exists(pk) AND #stock >= :n",
                n=units,
                one=1,
            ),
            *self._shard_puts(pin, shards),
        ]
        try:
            self._transact(actions)
        except TransactionCancelled:
            logger.warning("pin stored with fewer shards", extra={"pin": pin.pin_id, "missing": len(shards)})

    def unpin(
        self, pin: Pin, shards: list[StockShard], now_ms: int, closed_reason: str | None = None
    ) -> None:
        """Two steps, so a busy sale cannot starve it (a condition on ``remaining`` as read would
        lose to every order landing in between). Freeze: every active shard of the pin →
        unpinned, conditioned only on being the pin's and active, so orders stop at once (theirs
        need ``active``); the pin → unpinned in the LAST transaction (S ≤ 98: one; more: the
        extra shards first, so an interruption leaves an active pin with some closed shards,
        never open shards under a closed pin). Drain: read the shards again — an unpinned
        shard's ``remaining`` no longer moves (returns to it go to the product) — and move what
        they hold to the product (:meth:`drain`). A ``closed_reason`` (ending the stream) is
        stored on the shards and the pin it closes."""
        mine = [s for s in shards if s.pin_id == pin.pin_id and s.status == PIN_ACTIVE]
        chunks = [mine[i : i + UNPIN_TX_SHARDS] for i in range(0, len(mine), UNPIN_TX_SHARDS)] or [[]]
        for chunk in reversed(chunks[1:]):
            self._freeze(pin, chunk, now_ms, close_pin=False, closed_reason=closed_reason)
        self._freeze(pin, chunks[0], now_ms, close_pin=True, closed_reason=closed_reason)
        self.drain(pin, self.read_shards(pin), now_ms)

    def _freeze(
        self, pin: Pin, shards: list[StockShard], now_ms: int, close_pin: bool, closed_reason: str | None
    ) -> None:
        now = iso_from_ms(now_ms)
        # The host's unpin leaves ``closed_reason`` absent; ending the stream names itself.
        why: dict[str, Any] = {} if closed_reason is None else {"why": closed_reason}
        reason = ", closed_reason = :why" if why else ""
        actions: list[dict[str, Any]] = [
            tx.update(
                self._table,
                keys.pin_stock_shard(pin.stream_id, pin.product_id, s.shard),
                "SET #status = :unpinned, unpinned_at = :u" + reason,
                condition="#status = :active AND pin_id = :pin",
                unpinned=PIN_UNPINNED,
                u=now,
                active=PIN_ACTIVE,
                pin=pin.pin_id,
                **why,
            )
            for s in shards
        ]
        if close_pin:
            actions.append(
                tx.update(
                    self._table,
                    keys.pin(pin.stream_id, pin.product_id),
                    "SET #status = :unpinned, unpinned_at = :u" + reason,
                    condition="#status = :active AND pin_id = :pin",
                    unpinned=PIN_UNPINNED,
                    u=now,
                    active=PIN_ACTIVE,
                    pin=pin.pin_id,
                    **why,
                )
            )
        self._forget(pin.stream_id, pin.product_id)
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            raise StaleWriteError("The pin changed; retry.") from err

    def drain(self, pin: Pin, shards: list[StockShard], now_ms: int) -> None:
        """Move the units left in ``pin``'s unpinned shards (as read) to the product: per chunk of
        98, ONE transaction of shard ``remaining → 0, units -= r`` conditioned on that
        ``remaining`` + the product's stock += the sum. Nothing to move → no call."""
        left = [s for s in shards if s.pin_id == pin.pin_id and s.status == PIN_UNPINNED and s.remaining]
        for i in range(0, len(left), UNPIN_TX_SHARDS):
            chunk = left[i : i + UNPIN_TX_SHARDS]
            actions = [
                tx.update(
                    self._table,
                    keys.pin_stock_shard(pin.stream_id, pin.product_id, s.shard),
                    "SET #units = #units - :r, #remaining = :zero",
                    condition="#status = :unpinned AND pin_id = :pin AND #remaining = :r",
                    unpinned=PIN_UNPINNED,
                    pin=pin.pin_id,
                    r=s.remaining,
                    zero=0,
                )
                for s in chunk
            ]
            actions.append(self._return_to_product(pin.product_id, sum(s.remaining for s in chunk), now_ms))
            try:
                self._transact(actions)
            except TransactionCancelled as err:
                raise StaleWriteError("Another unpin moved those units; re-read.") from err

    def flag_sold_out(self, pin: Pin, shards: list[StockShard]) -> None:
        """Once a strong read found every shard of ``pin`` empty: seal the shards that are not
        yet (ONE transaction, each conditioned on still being empty and unsealed), then the
        caller that sealed sets the pin's ``sold_out`` flag conditioned on ``returns`` as read
        with the pin (an unseal since then bumped it). A return that
        unseals a shard bumps ``returns`` and clears the flag in its own transaction, so
        either the return commits first (a seal or the flag's condition fails: not flagged)
        or after (it clears the flag): the flag never stands over units. Best effort: a
        refusal or a busy table writes nothing more and raises nothing (the buyer's answer is
        ``sold_out`` either way). Every container that saw the shards empty remembers it."""
        mine = [s for s in shards if s.pin_id == pin.pin_id and s.status == PIN_ACTIVE]
        if not mine or any(s.remaining for s in mine):
            return
        seals = [
            tx.update(
                self._table,
                keys.pin_stock_shard(pin.stream_id, pin.product_id, s.shard),
                "SET #sealed = :t",
                condition="#status = :active AND pin_id = :pin AND #remaining = :zero"
                " AND (attribute_not_exists(#sealed) OR #sealed = :f)",
                t=True,
                f=False,
                active=PIN_ACTIVE,
                pin=pin.pin_id,
                zero=0,
            )
            for s in mine
            if not s.sealed
        ]
        if seals:
            try:
                self._seal_and_flag(pin, seals)
            except _NotSealedError:
                return
        # Every shard is sealed now (by this call or an earlier one, whose transaction set the
        # flag with its seals): this container answers sold_out without reading shards.
        cached = _sale_cache.get((self._table, pin.stream_id, pin.product_id))
        if cached is not None and cached.pin is not None and cached.pin.pin_id == pin.pin_id:
            _sale_cache[(self._table, pin.stream_id, pin.product_id)] = replace(cached, sold_out=True)

    def _seal_and_flag(self, pin: Pin, seals: list[dict[str, Any]]) -> None:
        """Seal (≤ 100 shards per transaction), then — only the caller whose seals committed —
        flag the pin, so the burst of buyers who find the sale empty at the same instant
        touches the shards, not the pin item (one partition with the stream's META)."""
        try:
            for i in range(0, len(seals), MAX_TX_ACTIONS):
                tx.transact(self._ddb, seals[i : i + MAX_TX_ACTIONS])
        except (TransactionCancelled, UnavailableError) as err:
            # A unit came back, another container sealed first, or the table is busy: the
            # next attempt that finds the shards empty decides again.
            raise _NotSealedError from err
        flag = tx.update(
            self._table,
            keys.pin(pin.stream_id, pin.product_id),
            "SET sold_out = :t",
            condition="#status = :active AND pin_id = :pin"
            " AND (attribute_not_exists(#returns) OR #returns = :r)",
            t=True,
            active=PIN_ACTIVE,
            pin=pin.pin_id,
            r=pin.returns,
        )
        try:
            if not tx.write_if(self._ddb, flag):
                self._forget(pin.stream_id, pin.product_id)  # a return since the pin was read
                raise _NotSealedError
        except UnavailableError as err:
            raise _NotSealedError from err  # a busy table: the buyer is told sold_out anyway

    def _return_to_product(self, product_id: str, units: int, now_ms: int) -> dict[str, Any]:
        return tx.update(
            self._table,
            keys.product(product_id),
            "SET updated_at = :u ADD #stock :n, #version :one",
            condition="attribute_exists(pk)",
            u=iso_from_ms(now_ms),
            n=units,
            one=1,
        )

    # -- orders

    def read_for_order(self, stream_id: str, product_id: str, buyer_id: str, idem_key: str) -> OrderContext:
        """ONE strongly consistent BatchGetItem: the idempotency record, the buyer's counter and
        home stock shard, plus the stream META and the pin unless the sale cache holds them
        (a cached sold-out sale skips the home shard). A home shard that disagrees with the
        cached pin costs one more BatchGetItem (stream, pin, home shard) read fresh."""
        cache_key = (self._table, stream_id, product_id)
        cached = _sale_cache.get(cache_key)
        fresh = cached is not None and cached.fresh(self._monotonic())
        buyer = [
            keys.idempotency(buyer_id, "order", idem_key),
            keys.pin_buyer(stream_id, product_id, buyer_id),
        ]
        sale = [] if fresh else [keys.stream(stream_id), keys.pin(stream_id, product_id)]
        known_pin = cached.pin if cached is not None else None
        skip_home = fresh and cached is not None and cached.sold_out
        home_key = None if skip_home else self._home_key(known_pin, buyer_id)
        found = self._batch_get(buyer + sale + ([home_key] if home_key else []))
        r_item, c_item = (found.get(item_key(k)) for k in buyer)
        if fresh and cached is not None:
            stream, pin = cached.stream, cached.pin
            home = _home_from(found, home_key, pin)
            if cached.sold_out and pin is not None:
                pin = replace(pin, sold_out=True)
            elif pin is not None and pin.status == PIN_ACTIVE and (home is None or home.status != PIN_ACTIVE):
                # The cache predates an unpin, the stream's end or a newer pin: read them again.
                stream, pin, home = self._read_sale(stream_id, product_id, buyer_id, known_pin)
        else:
            s_item, p_item = (found.get(item_key(k)) for k in sale)
            stream = stream_from(stream_id, s_item) if s_item else None
            pin = pin_from(p_item) if p_item else None
            home = _home_from(found, home_key, pin)
            self._remember(stream_id, product_id, stream, pin)
        return OrderContext(
            stream=stream,
            pin=pin,
            record=IdempotencyRecord(r_item["fingerprint"], r_item["order_id"]) if r_item else None,
            units_held=int(c_item.get("units", 0)) if c_item else 0,
            home=home,
        )

    def _home_key(self, pin: Pin | None, buyer_id: str) -> dict[str, str] | None:
        """The buyer's home shard key, when the shard count of the pin is known."""
        if pin is None:
            return None
        return keys.pin_stock_shard(pin.stream_id, pin.product_id, home_shard(buyer_id, pin.shards))

    def _read_sale(
        self, stream_id: str, product_id: str, buyer_id: str, known: Pin | None
    ) -> tuple[Stream | None, Pin | None, StockShard | None]:
        """Stream, pin and (with the shard count as last known) the buyer's home shard, fresh."""
        sale = [keys.stream(stream_id), keys.pin(stream_id, product_id)]
        home_key = self._home_key(known, buyer_id)
        found = self._batch_get(sale + ([home_key] if home_key else []))
        s_item, p_item = (found.get(item_key(k)) for k in sale)
        stream = stream_from(stream_id, s_item) if s_item else None
        pin = pin_from(p_item) if p_item else None
        self._remember(stream_id, product_id, stream, pin)
        return stream, pin, _home_from(found, home_key, pin)

    def _remember(self, stream_id: str, product_id: str, stream: Stream | None, pin: Pin | None) -> None:
        if len(_sale_cache) >= _SALE_CACHE_MAX:
            _sale_cache.clear()
        entry = _CachedSale(stream, pin, self._monotonic(), sold_out=bool(pin and pin.sold_out))
        _sale_cache[(self._table, stream_id, product_id)] = entry

    def _forget(self, stream_id: str, product_id: str) -> None:
        _sale_cache.pop((self._table, stream_id, product_id), None)

    def order_record(self, buyer_id: str, idem_key: str) -> IdempotencyRecord | None:
        """GetItem of the idempotency record (strongly consistent)."""
        item = self._get(keys.idempotency(buyer_id, "order", idem_key))
        return IdempotencyRecord(item["fingerprint"], item["order_id"]) if item else None

    def place_order(
        self, order: Order, idem_key: str, fingerprint: str, per_user_limit: int, now_ms: int
    ) -> None:
        """ONE TransactWriteItems: [0] idempotency record, [1] reservation on stock shard
        ``order.shard``, [2] buyer's counter within the limit, [3] order, [4] the seller's
        pointer. No shared item: the pin and the stream META are not touched (ending the stream
        closes the shards instead), so the sale scales with its shards."""
        q = order.quantity
        put_record, _ = idempotency.record(
            self._table,
            keys.idempotency(order.buyer_id, "order", idem_key),
            fingerprint,
            expires_s=now_ms // 1000 + IDEMPOTENCY_TTL_SECONDS,
            order_id=order.order_id,
        )
        actions = [
            put_record,
            tx.update(
                self._table,
                keys.pin_stock_shard(order.stream_id, order.product_id, order.shard),
                "SET #remaining = #remaining - :q, #held = #held + :q",
                condition="#status = :active AND pin_id = :pin AND #remaining >= :q"
                " AND (attribute_not_exists(ends_at_ms) OR ends_at_ms > :now)",
                return_old_on_failure=True,
                q=q,
                active=PIN_ACTIVE,
                pin=order.pin_id,
                now=now_ms,
            ),
            tx.update(
                self._table,
                keys.pin_buyer(order.stream_id, order.product_id, order.buyer_id),
                "SET entity = :e ADD #units :q",
                condition="attribute_not_exists(#units) OR #units <= :room",
                e="pin_buyer",
                q=q,
                room=per_user_limit - q,
            ),
            tx.put(self._table, order_item(order), condition="attribute_not_exists(pk)"),
            tx.put(
                self._table,
                {
                    **keys.sale(order.seller_id, order.order_id),
                    "entity": "sale",
                    "order_id": order.order_id,
                    "buyer_id": order.buyer_id,
                    "created_at": order.created_at,
                },
                condition="attribute_not_exists(pk)",
            ),
        ]
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            self._order_refused(err, order, now_ms)

    def _order_refused(self, err: TransactionCancelled, order: Order, now_ms: int) -> None:
        """Map a cancelled order transaction to the reason the buyer sees (most specific first)."""
        if err.failed(0):
            record = err.item(0) or {}
            raise IdempotencyReplay(
                str(record.get("fingerprint", "")), str(record.get("order_id", ""))
            ) from err
        if err.failed(1):
            old = err.item(1)
            if old is None:  # not stored (yet): nothing to take there
                raise ShardShortError(0) from err
            shard = stock_shard_from(old)
            if shard.status != PIN_ACTIVE or shard.pin_id != order.pin_id:
                self._forget(order.stream_id, order.product_id)  # the cached sale is stale
                if shard.closed_reason == CLOSED_STREAM_ENDED:
                    raise StreamEndedError("The stream has ended.") from err
                raise PinNotFoundError("The product is not pinned on this stream.") from err
            ends = old.get("ends_at_ms")
            if ends is not None and now_ms >= int(ends):
                raise PinExpiredError("This flash sale has ended.") from err
            raise ShardShortError(shard.remaining) from err
        if err.failed(2):
            raise LimitExceededError("This order would pass the per-buyer limit of the sale.") from err
        raise UnavailableError("Could not place the order; retry.") from err

    def get_order(self, order_id: str) -> Order | None:
        """GetItem ORDER#id (strongly consistent)."""
        item = self._get(keys.order(order_id))
        return order_from(item) if item else None

    def list_orders(self, user_id: str, role: Role, limit: int, start: dict[str, Any] | None) -> OrderPage:
        """Buyer: Query GSI1 ``USER#id#ORDERS``. Seller: a ``Limit 1`` Query for a product (none:
        no sale, an empty page), then 33 Queries (the 32 pointer partitions and the legacy
        ``USER#id``, concurrently) merged by order id, then ONE BatchGetItem of the page's
        orders. Both newest first; the seller's position is ``{"before": <id>}``."""
        if role == "buyer":
            items, last = query_page(
                self._ddb,
                self._table,
                index=keys.GSI1,
                key_attribute=keys.GSI1PK,
                key_value=keys.buyer_orders_pk(user_id),
                limit=limit,
                start=start,
            )
            return OrderPage(orders=[order_from(item) for item in items], last_key=last)
        if not self._has_products(user_id):  # never listed a product: no sale (1 Query)
            return OrderPage(orders=[], last_key=None)
        ids, more = self._sales_page(user_id, limit, _sales_before(start))
        found = self._batch_get([keys.order(i) for i in ids]) if ids else {}
        orders = []
        for order_id in ids:
            item = found.get(item_key(keys.order(order_id)))
            if item:
                orders.append(order_from(item))
        return OrderPage(orders=orders, last_key={"before": ids[-1]} if more and ids else None)

    def _sales_page(self, seller_id: str, limit: int, before: str | None) -> tuple[list[str], bool]:
        """The ``limit`` newest order ids below ``before`` over every pointer partition, and
        whether more may follow. Each partition's page holds its own ``limit`` newest, so the
        merged ``limit`` newest are among them; a page cut short (1 MB) stops the merge at its
        last id, below which that partition has unread pointers."""
        partitions = [(pk, False) for pk in keys.sale_partitions(seller_id)]
        partitions.append((keys.legacy_sales(seller_id)[keys.PK], True))
        with ThreadPoolExecutor(max_workers=SALE_QUERY_WORKERS) as pool:
            pages = list(pool.map(lambda p: self._sale_ids(p[0], p[1], limit, before), partitions))
        ids = sorted({i for page, _ in pages for i in page}, reverse=True)
        floor = max((page[-1] for page, cut in pages if cut and page), default=None)
        if floor is not None:
            ids = [i for i in ids if i >= floor]
        return ids[:limit], len(ids) > limit or any(cut for _, cut in pages)

    def _sale_ids(self, pk: str, legacy: bool, limit: int, before: str | None) -> tuple[list[str], bool]:
        """One Query page of a pointer partition, newest first: the order ids below ``before``,
        and whether the partition returned a ``LastEvaluatedKey``. Only pointers live in a shard
        (``sk < SALE#<before>``); the legacy ``USER#id`` also holds the user's other items, some
        sorting below ``SALE#``, so there the range is ``BETWEEN SALE# AND SALE#<before>``
        (inclusive: one item more is read and ``before`` itself dropped)."""
        condition, bounds = "pk = :pk AND begins_with(sk, :sale)", {"sale": keys.SALE_PREFIX}
        if before is not None and legacy:
            condition, limit = "pk = :pk AND sk BETWEEN :sale AND :before", limit + 1
            bounds["before"] = keys.sale_sk(before)
        elif before is not None:
            condition, bounds = "pk = :pk AND sk < :before", {"before": keys.sale_sk(before)}
        out = call(
            self._ddb.query,
            TableName=self._table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values(pk=pk, **bounds),
            ProjectionExpression="sk",
            ScanIndexForward=False,
            Limit=limit,
        )
        ids = [_sale_order_id(raw) for raw in out.get("Items", [])]
        return [i for i in ids if i != before], "LastEvaluatedKey" in out

    def _order_transition(
        self,
        order: Order,
        new_status: str,
        condition: str,
        now_ms: int,
        index: dict[str, str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        # The order leaves the pending index, or moves to ``index`` (the refund_pending list,
        # with the reason the sweeper's retry will record).
        why = extra.pop("why", None)
        if index is None:
            update = "SET #st = :new, updated_at = :u REMOVE gsi2pk, gsi2sk"
        else:
            update = "SET #st = :new, updated_at = :u, gsi2pk = :g2p, gsi2sk = :g2s"
            extra.update(g2p=index[keys.GSI2PK], g2s=index[keys.GSI2SK])
            if why is not None:
                update += ", refund_reason = :why"
                extra["why"] = why
        return tx.update(
            self._table,
            keys.order(order.order_id),
            update,
            condition=condition,
            names=NAMES,
            new=new_status,
            u=iso_from_ms(now_ms),
            **extra,
        )

    def _event_marker(self, event_id: str, order_id: str, now_ms: int) -> dict[str, Any]:
        item = {
            **keys.payment_event(event_id),
            "entity": "payment_event",
            "event_id": event_id,
            "order_id": order_id,
            "ttl": now_ms // 1000 + PAYMENT_EVENT_TTL_SECONDS,
        }
        return tx.put(self._table, item, condition="attribute_not_exists(pk)")

    def release(
        self, order: Order, new_status: str, shard: StockShard | None, now_ms: int, event_id: str | None
    ) -> None:
        """ONE transaction: order pending → new_status (leaves the pending index), units back to
        the order's stock shard (active: remaining += q; only a sealed shard also clears the
        pin's ``sold_out`` flag, so returns during a sale never write the pin item) or, from an
        unpinned shard or a replaced pin, to the product; buyer's counter -= quantity; and the
        webhook event marker when there is one."""
        q = order.quantity
        condition = "#st = :pending"
        if new_status == "expired":
            condition += " AND expires_at_ms <= :now"
        elif new_status == "cancelled":
            condition += " AND expires_at_ms > :now"
        extra: dict[str, Any] = {"pending": PENDING}
        if ":now" in condition:
            extra["now"] = now_ms
        actions: list[dict[str, Any]] = [
            self._order_transition(order, new_status, condition, now_ms, **extra)
        ]
        shard_key = keys.pin_stock_shard(order.stream_id, order.product_id, order.shard)
        if shard is not None and shard.status == PIN_ACTIVE:
            # The shard as read decides: unsealed → the return touches only the shard (the
            # condition keeps it so); sealed (the pin may be flagged sold out) → it also unseals
            # it, clears the pin's flag and bumps ``returns`` (flag_sold_out's condition).
            seal = "#sealed = :was" if shard.sealed else "(attribute_not_exists(#sealed) OR #sealed = :was)"
            actions.append(
                tx.update(
                    self._table,
                    shard_key,
                    "SET #remaining = #remaining + :q, #held = #held - :q, #sealed = :f",
                    condition=f"#status = :active AND pin_id = :pin AND {seal}",
                    q=q,
                    active=PIN_ACTIVE,
                    pin=order.pin_id,
                    f=False,
                    was=shard.sealed,
                )
            )
            if shard.sealed:
                actions.append(
                    tx.update(
                        self._table,
                        keys.pin(order.stream_id, order.product_id),
                        "SET sold_out = :f ADD #returns :one",
                        condition="pin_id = :pin",
                        f=False,
                        one=1,
                        pin=order.pin_id,
                    )
                )
            self._forget(order.stream_id, order.product_id)
        else:
            if shard is not None:  # unpinned: the shard forgets the units, the product gets them
                actions.append(
                    tx.update(
                        self._table,
                        shard_key,
                        "SET #held = #held - :q, #units = #units - :q",
                        condition="#status = :unpinned AND pin_id = :pin",
                        q=q,
                        unpinned=PIN_UNPINNED,
                        pin=order.pin_id,
                    )
                )
            actions.append(self._return_to_product(order.product_id, q, now_ms))
        actions.append(self._counter_change(order, -q))
        if event_id:
            actions.append(self._event_marker(event_id, order.order_id, now_ms))
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            if event_id and err.failed(len(actions) - 1):
                raise DuplicateEventError(event_id) from err
            if err.failed(0):
                raise IllegalTransitionError("The order is no longer pending.") from err
            raise StaleWriteError("The shard changed; retry.") from err

    def _counter_change(self, order: Order, delta: int) -> dict[str, Any]:
        return tx.update(
            self._table,
            keys.pin_buyer(order.stream_id, order.product_id, order.buyer_id),
            "SET entity = :e ADD #units :d",
            e="pin_buyer",
            d=delta,
        )

    def settle(
        self, order: Order, mode: SettleMode, now_ms: int, event_id: str, *, reason: str | None = None
    ) -> None:
        """ONE transaction per payment success: ``held`` (pending → paid, held → sold),
        ``reserve`` (expired/failed → paid taking remaining units, counter += quantity) or
        ``refund`` (→ refund_pending, indexed for the sweeper's retry, with the refund's
        ``reason``); always with the event marker."""
        q = order.quantity
        pin_key = keys.pin_stock_shard(order.stream_id, order.product_id, order.shard)
        expected = PENDING if mode == "held" else order.status
        new_status = REFUND_PENDING if mode == "refund" else PAID
        index = keys.refund_pending_order(order.order_id) if mode == "refund" else None
        actions: list[dict[str, Any]] = [
            self._order_transition(
                order, new_status, "#st = :expected", now_ms, index, expected=expected, why=reason
            )
        ]
        if mode == "held":
            actions.append(
                tx.update(
                    self._table,
                    pin_key,
                    "SET #held = #held - :q, #sold = #sold + :q",
                    condition="pin_id = :pin",
                    q=q,
                    pin=order.pin_id,
                )
            )
        elif mode == "reserve":
            actions.append(
                tx.update(
                    self._table,
                    pin_key,
                    "SET #remaining = #remaining - :q, #sold = #sold + :q",
                    condition="#status = :active AND pin_id = :pin AND #remaining >= :q",
                    q=q,
                    active=PIN_ACTIVE,
                    pin=order.pin_id,
                )
            )
            actions.append(self._counter_change(order, q))
        actions.append(self._event_marker(event_id, order.order_id, now_ms))
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            if err.failed(len(actions) - 1):
                raise DuplicateEventError(event_id) from err
            if err.failed(0):
                raise IllegalTransitionError("The order changed meanwhile.") from err
            if mode == "reserve":
                raise SoldOutError("No units remain to re-reserve.") from err
            raise StaleWriteError("The pin changed; retry.") from err

    def refund(
        self,
        order: Order,
        refund_id: str,
        now_ms: int,
        *,
        reason: str | None = None,
        event_id: str | None = None,
    ) -> None:
        """ONE transaction: order ``status = <as read>`` → refunded with ``refund_id``,
        ``refunded_at`` (= ``updated_at``), ``refunded_cents`` = the amount, the reason of an
        automatic refund, out of any index; for a paid order also the buyer's counter -= quantity
        (the order is no longer live); the webhook event marker when there is one. No stock
        moves: a paid order's units stay ``sold``, the other refundable states hold none."""
        if order.status not in REFUNDABLE:
            raise IllegalTransitionError(f"An order that is {order.status} cannot be refunded.")
        now = iso_from_ms(now_ms)
        update = "SET #st = :new, updated_at = :u, refund_id = :r, refunded_at = :u, refunded_cents = :c"
        extra: dict[str, Any] = {}
        if reason is not None:
            update += ", refund_reason = :why"
            extra["why"] = reason
        actions: list[dict[str, Any]] = [
            tx.update(
                self._table,
                keys.order(order.order_id),
                update + " REMOVE gsi2pk, gsi2sk",
                condition="#st = :expected",
                names=NAMES,
                new=REFUNDED,
                u=now,
                r=refund_id,
                c=order.amount_cents,
                expected=order.status,
                **extra,
            )
        ]
        if order.status == PAID:
            actions.append(self._counter_change(order, -order.quantity))
        if event_id:
            actions.append(self._event_marker(event_id, order.order_id, now_ms))
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            if event_id and err.failed(len(actions) - 1):
                raise DuplicateEventError(event_id) from err
            if err.failed(0):
                raise IllegalTransitionError("The order changed meanwhile.") from err
            raise UnavailableError("Could not refund the order; retry.") from err

    def record_charge_refund(
        self,
        order: Order,
        refunded_cents: int,
        full: bool,
        refund_id: str,
        now_ms: int,
        event_id: str,
    ) -> None:
        """ONE transaction for ``charge.refunded``: ``refunded_cents`` rises to the provider's
        total (never falls), and when ``full`` a paid or refund_pending order becomes
        ``refunded`` (paid: buyer's counter -= quantity; units stay sold); with the event
        marker. ``IllegalTransitionError`` if the status or the refunded total changed."""
        now = iso_from_ms(now_ms)
        update = "SET updated_at = :u, refunded_cents = :c"
        extra: dict[str, Any] = {}
        to_refunded = full and order.status in (PAID, REFUND_PENDING)
        if to_refunded:
            update += ", #st = :new, refunded_at = :u, refund_id = if_not_exists(refund_id, :r)"
            update += " REMOVE gsi2pk, gsi2sk"
            extra.update(new=REFUNDED, r=refund_id)
        actions: list[dict[str, Any]] = [
            tx.update(
                self._table,
                keys.order(order.order_id),
                update,
                condition="#st = :expected AND (attribute_not_exists(refunded_cents) OR refunded_cents < :c)",
                names=NAMES,
                u=now,
                c=refunded_cents,
                expected=order.status,
                **extra,
            )
        ]
        if to_refunded and order.status == PAID:
            actions.append(self._counter_change(order, -order.quantity))
        actions.append(self._event_marker(event_id, order.order_id, now_ms))
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            if err.failed(len(actions) - 1):
                raise DuplicateEventError(event_id) from err
            if err.failed(0):
                raise IllegalTransitionError("The order changed meanwhile.") from err
            raise UnavailableError("Could not record the refund; retry.") from err

    def mark_disputed(self, order: Order, now_ms: int, event_id: str) -> None:
        """ONE transaction: ``disputed = true`` (once) with the event marker; the status and
        stock stay (the money is contested, the goods are still sold)."""
        actions: list[dict[str, Any]] = [
            tx.update(
                self._table,
                keys.order(order.order_id),
                "SET disputed = :t, updated_at = :u",
                condition="attribute_exists(pk) AND (attribute_not_exists(disputed) OR disputed = :f)",
                t=True,
                f=False,
                u=iso_from_ms(now_ms),
            ),
            self._event_marker(event_id, order.order_id, now_ms),
        ]
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            if err.failed(1):
                raise DuplicateEventError(event_id) from err
            raise IllegalTransitionError("The order is already disputed.") from err

    def pending_orders(self, now_ms: int) -> list[Order]:
        """Query GSI2 ``PENDING#<shard>`` with ``gsi2sk <= <now>`` on each shard: every pending
        order whose hold has ended, however long ago (sparse: only pending orders are indexed)."""
        found: list[Order] = []
        for shard in range(keys.PENDING_SHARDS):
            items = query_all(
                self._ddb,
                TableName=self._table,
                IndexName=keys.GSI2,
                KeyConditionExpression="gsi2pk = :pk AND gsi2sk <= :until",
                ExpressionAttributeValues=values(
                    pk=keys.pending_bucket(shard), until=keys.pending_until(now_ms)
                ),
            )
            found.extend(order_from(item) for item in items)
        return found

    def refund_pending_orders(self) -> list[Order]:
        """Query GSI2 ``REFUNDPENDING``: orders whose automatic refund still has to go through."""
        items = query_all(
            self._ddb,
            TableName=self._table,
            IndexName=keys.GSI2,
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues=values(pk=keys.REFUND_PENDING_PK),
        )
        return [order_from(item) for item in items]


def repository() -> DynamoCheckoutRepository:
    """The repository on the stage's table (not cached: tests switch endpoints)."""
    return DynamoCheckoutRepository(clients.dynamodb(), get_settings().table_name)
