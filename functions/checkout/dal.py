"""DynamoDB access of the checkout domain: the only module here that knows keys and boto3.

Every change that moves stock or money is ONE ``TransactWriteItems``; cancellations are mapped
to domain errors by the index of the failed action (never by message text).
"""

from __future__ import annotations

import re
from typing import Any

from functions.checkout.errors import (
    AlreadyPinnedError,
    DuplicateEventError,
    IdempotencyReplay,
    IllegalTransitionError,
    InsufficientStockError,
    LimitExceededError,
    PinExpiredError,
    PinNotFoundError,
    ProductNotFoundError,
    SoldOutError,
    StaleWriteError,
    StreamEndedError,
)
from functions.checkout.models import (
    PAID,
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
    Stream,
)
from functions.checkout.ports import OrderContext, Role, SettleMode
from functions.core import clients, keys
from functions.core.clock import iso_from_ms
from functions.core.ddb import (
    ConditionFailed,
    Item,
    TransactionCancelled,
    batch_get,
    call,
    conditional,
    deserialize,
    get_item,
    item_key,
    query_all,
    query_page,
    serialize,
    values,
)
from functions.core.errors import UnavailableError
from functions.core.idempotency import IDEMPOTENCY_TTL_SECONDS
from functions.core.settings import get_settings

PAYMENT_EVENT_TTL_SECONDS = 30 * 24 * 3600
ALL_OLD = "ALL_OLD"
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
}


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
    )


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
    }
    if o.status == PENDING:
        item.update(keys.pending_order(o.expires_at_ms, o.order_id))
    if o.refund_id is not None:
        item.update(refund_id=o.refund_id, refunded_at=o.refunded_at)
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
    )


def stream_from(stream_id: str, item: Item) -> Stream:
    """The live domain's stream META item, as far as checkout cares."""
    return Stream(
        stream_id=stream_id, host_id=str(item.get("host_id", "")), status=str(item.get("status", ""))
    )


# --- repository ----------------------------------------------------------------------------------


class DynamoCheckoutRepository:
    """:class:`functions.checkout.ports.CheckoutRepository` on the single table."""

    def __init__(self, client: Any, table: str) -> None:
        self._ddb = client
        self._table = table

    # -- helpers

    def _get(self, key: dict[str, str], consistent: bool = True) -> Item | None:
        return get_item(self._ddb, self._table, key, consistent=consistent)

    def _batch_get(self, wanted: list[dict[str, str]]) -> dict[tuple[str, str], Item]:
        """BatchGetItem (strongly consistent), retrying unprocessed keys; keyed by (pk, sk)."""
        return batch_get(self._ddb, self._table, wanted)

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        for action in actions:
            next(iter(action.values()))["TableName"] = self._table
        call(self._ddb.transact_write_items, TransactItems=actions)

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
        conditional(
            self._ddb.update_item,
            TableName=self._table,
            Key=serialize(keys.product(product_id)),
            UpdateExpression="SET unlisted = :t, updated_at = :u",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values(t=True, u=iso_from_ms(now_ms)),
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

    def pseudonymise_order(self, order_id: str, role: str, user_id: str, pseudonym: str) -> bool:
        """Replace the buyer's or seller's id on a kept order by ``pseudonym`` (a buyer's order
        also leaves the buyer index). False when it was done already."""
        attribute = "buyer_id" if role == "buyer" else "seller_id"
        index = " REMOVE gsi1pk, gsi1sk" if role == "buyer" else ""
        return conditional(
            self._ddb.update_item,
            TableName=self._table,
            Key=serialize(keys.order(order_id)),
            UpdateExpression=f"SET {attribute} = :p, pseudonymised = :t{index}",
            ConditionExpression=f"{attribute} = :u",
            ExpressionAttributeValues=values(p=pseudonym, t=True, u=user_id),
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
                {
                    "Put": {
                        "Item": serialize(product_item(product)),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Put": {"Item": serialize(pointer)}},
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
        """GetItem STREAM#sid/PIN#pid (strongly consistent)."""
        item = self._get(keys.pin(stream_id, product_id))
        return pin_from(item) if item else None

    def list_pins(self, stream_id: str) -> list[Pin]:
        """Query pk = STREAM#sid AND begins_with(sk, PIN#)."""
        items = query_all(
            self._ddb,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :pin)",
            ExpressionAttributeValues=values(pk=keys.stream_pk(stream_id), pin=keys.PIN_PREFIX),
        )
        return [pin_from(item) for item in items]

    def create_pin(self, pin: Pin, message: dict[str, Any]) -> None:
        """One transaction: product stock -= pinned, Put pin, stream still live, Put chat message."""
        actions = [
            {
                "Update": {
                    "Key": serialize(keys.product(pin.product_id)),
                    "UpdateExpression": "SET #stock = #stock - :n, updated_at = :u ADD #ver :one",
                    "ConditionExpression": "attribute_exists(pk) AND seller_id = :seller AND #stock >= :n",
                    "ExpressionAttributeNames": _names("#stock #ver"),
                    "ExpressionAttributeValues": values(
                        n=pin.pinned, u=pin.created_at, one=1, seller=pin.seller_id
                    ),
                    "ReturnValuesOnConditionCheckFailure": ALL_OLD,
                }
            },
            {
                "Put": {
                    "Item": serialize(pin_item(pin)),
                    # A previous pin of this product may be replaced once nothing is held in it.
                    "ConditionExpression": "attribute_not_exists(pk) OR (#st = :unpinned AND #held = :zero)",
                    "ExpressionAttributeNames": _names("#st #held"),
                    "ExpressionAttributeValues": values(unpinned=PIN_UNPINNED, zero=0),
                }
            },
            {
                "ConditionCheck": {
                    "Key": serialize(keys.stream(pin.stream_id)),
                    "ConditionExpression": "#st = :live AND host_id = :host",
                    "ExpressionAttributeNames": _names("#st"),
                    "ExpressionAttributeValues": values(live="live", host=pin.seller_id),
                }
            },
            {
                "Put": {
                    "Item": serialize(
                        {**keys.chat_message(pin.stream_id, 0, message["message_id"]), **message}
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            if err.failed(0):
                if err.item(0) is None:
                    raise ProductNotFoundError("Product not found.") from err
                raise InsufficientStockError("The product does not have that much stock.") from err
            if err.failed(1):
                raise AlreadyPinnedError("The product is already pinned on this stream.") from err
            if err.failed(2):
                raise StreamEndedError("The stream has ended.") from err
            raise UnavailableError("Could not pin the product; retry.") from err

    def unpin(self, pin: Pin, now_ms: int) -> None:
        """One transaction: pin → unpinned with its remaining units moved back to the product."""
        actions = [
            {
                "Update": {
                    "Key": serialize(keys.pin(pin.stream_id, pin.product_id)),
                    "UpdateExpression": (
                        "SET #st = :unpinned, #pinned = #pinned - :r, #rem = :zero, unpinned_at = :u"
                    ),
                    "ConditionExpression": "#st = :active AND pin_id = :pin AND #rem = :r",
                    "ExpressionAttributeNames": _names("#st #pinned #rem"),
                    "ExpressionAttributeValues": values(
                        unpinned=PIN_UNPINNED,
                        r=pin.remaining,
                        zero=0,
                        u=iso_from_ms(now_ms),
                        active=PIN_ACTIVE,
                        pin=pin.pin_id,
                    ),
                }
            },
            self._return_to_product(pin.product_id, pin.remaining, now_ms),
        ]
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            raise StaleWriteError("The pin changed; retry.") from err

    def _return_to_product(self, product_id: str, units: int, now_ms: int) -> dict[str, Any]:
        return {
            "Update": {
                "Key": serialize(keys.product(product_id)),
                "UpdateExpression": "SET updated_at = :u ADD #stock :n, #ver :one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": _names("#stock #ver"),
                "ExpressionAttributeValues": values(u=iso_from_ms(now_ms), n=units, one=1),
            }
        }

    # -- orders

    def read_for_order(self, stream_id: str, product_id: str, buyer_id: str, idem_key: str) -> OrderContext:
        """One strongly consistent BatchGetItem of stream, pin, idempotency record, counter."""
        wanted = [
            keys.stream(stream_id),
            keys.pin(stream_id, product_id),
            keys.idempotency(buyer_id, "order", idem_key),
            keys.pin_buyer(stream_id, product_id, buyer_id),
        ]
        found = self._batch_get(wanted)
        s_item, p_item, r_item, c_item = (found.get(item_key(k)) for k in wanted)
        return OrderContext(
            stream=stream_from(stream_id, s_item) if s_item else None,
            pin=pin_from(p_item) if p_item else None,
            record=IdempotencyRecord(r_item["fingerprint"], r_item["order_id"]) if r_item else None,
            units_held=int(c_item.get("units", 0)) if c_item else 0,
        )

    def place_order(
        self, order: Order, idem_key: str, fingerprint: str, per_user_limit: int, now_ms: int
    ) -> None:
        """ONE TransactWriteItems: [0] idempotency record, [1] pin reservation, [2] stream live,
        [3] buyer's counter within the limit, [4] order, [5] seller's pointer."""
        q = order.quantity
        idem = {
            **keys.idempotency(order.buyer_id, "order", idem_key),
            "entity": "idempotency",
            "fingerprint": fingerprint,
            "order_id": order.order_id,
            "ttl": now_ms // 1000 + IDEMPOTENCY_TTL_SECONDS,
        }
        actions = [
            {
                "Put": {
                    "Item": serialize(idem),
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": ALL_OLD,
                }
            },
            {
                "Update": {
                    "Key": serialize(keys.pin(order.stream_id, order.product_id)),
                    "UpdateExpression": "SET #rem = #rem - :q, #held = #held + :q",
                    "ConditionExpression": (
                        "#st = :active AND pin_id = :pin AND #rem >= :q"
                        " AND (attribute_not_exists(ends_at_ms) OR ends_at_ms > :now)"
                    ),
                    "ExpressionAttributeNames": _names("#rem #held #st"),
                    "ExpressionAttributeValues": values(q=q, active=PIN_ACTIVE, pin=order.pin_id, now=now_ms),
                    "ReturnValuesOnConditionCheckFailure": ALL_OLD,
                }
            },
            {
                "ConditionCheck": {
                    "Key": serialize(keys.stream(order.stream_id)),
                    "ConditionExpression": "#st = :live",
                    "ExpressionAttributeNames": _names("#st"),
                    "ExpressionAttributeValues": values(live="live"),
                }
            },
            {
                "Update": {
                    "Key": serialize(keys.pin_buyer(order.stream_id, order.product_id, order.buyer_id)),
                    "UpdateExpression": "SET entity = :e ADD #units :q",
                    "ConditionExpression": "attribute_not_exists(#units) OR #units <= :room",
                    "ExpressionAttributeNames": _names("#units"),
                    "ExpressionAttributeValues": values(e="pin_buyer", q=q, room=per_user_limit - q),
                }
            },
            {
                "Put": {
                    "Item": serialize(order_item(order)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "Item": serialize(
                        {
                            **keys.sale(order.seller_id, order.order_id),
                            "entity": "sale",
                            "order_id": order.order_id,
                            "buyer_id": order.buyer_id,
                            "created_at": order.created_at,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
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
            pin = pin_from(old) if old else None
            if pin is None or pin.status != PIN_ACTIVE or pin.pin_id != order.pin_id:
                raise PinNotFoundError("The product is not pinned on this stream.") from err
            if err.failed(2):
                raise StreamEndedError("The stream has ended.") from err
            if pin.ended(now_ms):
                raise PinExpiredError("This flash sale has ended.") from err
            if pin.remaining == 0 and not pin.sold_out:
                self._flag_sold_out(pin)
            raise SoldOutError("Not enough of this product remains.") from err
        if err.failed(2):
            raise StreamEndedError("The stream has ended.") from err
        if err.failed(3):
            raise LimitExceededError("This order would pass the per-buyer limit of the sale.") from err
        raise UnavailableError("Could not place the order; retry.") from err

    def _flag_sold_out(self, pin: Pin) -> None:
        """Set ``sold_out`` once, so later attempts are refused from the read without a write."""
        # Refused = stock came back meanwhile, so it is not sold out after all.
        conditional(
            self._ddb.update_item,
            TableName=self._table,
            Key=serialize(keys.pin(pin.stream_id, pin.product_id)),
            UpdateExpression="SET sold_out = :t",
            ConditionExpression="pin_id = :pin AND #rem = :zero",
            ExpressionAttributeNames=_names("#rem"),
            ExpressionAttributeValues=values(t=True, pin=pin.pin_id, zero=0),
        )

    def get_order(self, order_id: str) -> Order | None:
        """GetItem ORDER#id (strongly consistent)."""
        item = self._get(keys.order(order_id))
        return order_from(item) if item else None

    def list_orders(self, user_id: str, role: Role, limit: int, start: dict[str, Any] | None) -> OrderPage:
        """Buyer: Query GSI1 ``USER#id#ORDERS``. Seller: Query ``USER#id`` begins_with SALE#, then
        BatchGetItem of those orders. Both newest first."""
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
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sale)",
            "ExpressionAttributeValues": values(pk=keys.user_pk(user_id), sale=keys.SALE_PREFIX),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start:
            kwargs["ExclusiveStartKey"] = serialize(start)
        out = call(self._ddb.query, **kwargs)
        ids = [str((deserialize(i) or {})["order_id"]) for i in out.get("Items", [])]
        found = self._batch_get([keys.order(i) for i in ids]) if ids else {}
        orders = []
        for order_id in ids:
            item = found.get(item_key(keys.order(order_id)))
            if item:
                orders.append(order_from(item))
        return OrderPage(orders=orders, last_key=deserialize(out.get("LastEvaluatedKey")))

    def _order_transition(
        self, order: Order, new_status: str, condition: str, now_ms: int, **extra: Any
    ) -> dict[str, Any]:
        return {
            "Update": {
                "Key": serialize(keys.order(order.order_id)),
                "UpdateExpression": "SET #st = :new, updated_at = :u REMOVE gsi2pk, gsi2sk",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": _names("#st"),
                "ExpressionAttributeValues": values(new=new_status, u=iso_from_ms(now_ms), **extra),
            }
        }

    def _event_marker(self, event_id: str, order_id: str, now_ms: int) -> dict[str, Any]:
        item = {
            **keys.payment_event(event_id),
            "entity": "payment_event",
            "event_id": event_id,
            "order_id": order_id,
            "ttl": now_ms // 1000 + PAYMENT_EVENT_TTL_SECONDS,
        }
        return {"Put": {"Item": serialize(item), "ConditionExpression": "attribute_not_exists(pk)"}}

    def release(
        self, order: Order, new_status: str, pin: Pin | None, now_ms: int, event_id: str | None
    ) -> None:
        """ONE transaction: order pending → new_status (leaves the pending index), units back to
        the pin (active) or the product (unpinned / replaced pin), buyer's counter -= quantity,
        and the webhook event marker when there is one."""
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
        pin_key = serialize(keys.pin(order.stream_id, order.product_id))
        if pin is not None and pin.status == PIN_ACTIVE:
            actions.append(
                {
                    "Update": {
                        "Key": pin_key,
                        "UpdateExpression": "SET #rem = #rem + :q, #held = #held - :q, sold_out = :f",
                        "ConditionExpression": "#st = :active AND pin_id = :pin",
                        "ExpressionAttributeNames": _names("#rem #held #st"),
                        "ExpressionAttributeValues": values(q=q, f=False, active=PIN_ACTIVE, pin=pin.pin_id),
                    }
                }
            )
        else:
            if pin is not None:  # unpinned: the pin forgets the units, the product gets them back
                actions.append(
                    {
                        "Update": {
                            "Key": pin_key,
                            "UpdateExpression": "SET #held = #held - :q, #pinned = #pinned - :q",
                            "ConditionExpression": "#st = :unpinned AND pin_id = :pin",
                            "ExpressionAttributeNames": _names("#held #pinned #st"),
                            "ExpressionAttributeValues": values(q=q, unpinned=PIN_UNPINNED, pin=pin.pin_id),
                        }
                    }
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
            raise StaleWriteError("The pin changed; retry.") from err

    def _counter_change(self, order: Order, delta: int) -> dict[str, Any]:
        return {
            "Update": {
                "Key": serialize(keys.pin_buyer(order.stream_id, order.product_id, order.buyer_id)),
                "UpdateExpression": "SET entity = :e ADD #units :d",
                "ExpressionAttributeNames": _names("#units"),
                "ExpressionAttributeValues": values(e="pin_buyer", d=delta),
            }
        }

    def settle(self, order: Order, mode: SettleMode, now_ms: int, event_id: str) -> None:
        """ONE transaction per payment success: ``held`` (pending → paid, held → sold),
        ``reserve`` (expired/failed → paid taking remaining units, counter += quantity) or
        ``refund`` (→ refund_pending); always with the event marker."""
        q = order.quantity
        pin_key = serialize(keys.pin(order.stream_id, order.product_id))
        expected = PENDING if mode == "held" else order.status
        new_status = REFUND_PENDING if mode == "refund" else PAID
        actions: list[dict[str, Any]] = [
            self._order_transition(order, new_status, "#st = :expected", now_ms, expected=expected)
        ]
        if mode == "held":
            actions.append(
                {
                    "Update": {
                        "Key": pin_key,
                        "UpdateExpression": "SET #held = #held - :q, #sold = #sold + :q",
                        "ConditionExpression": "pin_id = :pin",
                        "ExpressionAttributeNames": _names("#held #sold"),
                        "ExpressionAttributeValues": values(q=q, pin=order.pin_id),
                    }
                }
            )
        elif mode == "reserve":
            actions.append(
                {
                    "Update": {
                        "Key": pin_key,
                        "UpdateExpression": "SET #rem = #rem - :q, #sold = #sold + :q",
                        "ConditionExpression": "#st = :active AND pin_id = :pin AND #rem >= :q",
                        "ExpressionAttributeNames": _names("#rem #sold #st"),
                        "ExpressionAttributeValues": values(q=q, active=PIN_ACTIVE, pin=order.pin_id),
                    }
                }
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

    def refund(self, order: Order, refund_id: str, now_ms: int) -> None:
        """ONE transaction: order ``status = <as read>`` (paid or refund_pending) → refunded with
        ``refund_id``/``refunded_at``; for a paid order also the buyer's counter -= quantity (the
        order is no longer live). No stock moves: a paid order's units stay ``sold``, a
        refund_pending order held none."""
        if order.status not in (PAID, REFUND_PENDING):
            raise IllegalTransitionError(f"An order that is {order.status} cannot be refunded.")
        now = iso_from_ms(now_ms)
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "Key": serialize(keys.order(order.order_id)),
                    "UpdateExpression": "SET #st = :new, updated_at = :u, refund_id = :r, refunded_at = :u",
                    "ConditionExpression": "#st = :expected",
                    "ExpressionAttributeNames": _names("#st"),
                    "ExpressionAttributeValues": values(
                        new=REFUNDED, u=now, r=refund_id, expected=order.status
                    ),
                }
            }
        ]
        if order.status == PAID:
            actions.append(self._counter_change(order, -order.quantity))
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            if err.failed(0):
                raise IllegalTransitionError("The order changed meanwhile.") from err
            raise UnavailableError("Could not refund the order; retry.") from err

    def pending_orders(self, minute: int) -> list[Order]:
        """Query GSI2 ``PENDING#<minute>`` (sparse: only pending orders are indexed)."""
        items = query_all(
            self._ddb,
            TableName=self._table,
            IndexName=keys.GSI2,
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues=values(pk=keys.pending_bucket(minute)),
        )
        return [order_from(item) for item in items]


def repository() -> DynamoCheckoutRepository:
    """The repository on the stage's table (not cached: tests switch endpoints)."""
    return DynamoCheckoutRepository(clients.dynamodb(), get_settings().table_name)
