"""In-memory stand-ins for the checkout repository and payment provider.

The fake repository keeps the dal's transaction semantics: every operation checks all of its
conditions first and then applies all of its effects, or raises and changes nothing.
"""

from __future__ import annotations

import threading
from dataclasses import replace
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
from chalicelib.core.clock import iso_from_ms


class FakeRepository:
    """Implements ``CheckoutRepository`` in memory; counts writes like DynamoDB would bill them.

    ``cold = True`` plays a container that has not seen the pin yet: ``read_for_order`` does not
    return the home shard. ``conflicts`` makes the next N order transactions raise
    ``UnavailableError`` (a TransactionConflict that outlasted the dal's retries).
    """

    def __init__(self) -> None:
        self.products: dict[str, Product] = {}
        self.streams: dict[str, Stream] = {}
        self.pins: dict[tuple[str, str], Pin] = {}
        self.orders: dict[str, Order] = {}
        self.records: dict[tuple[str, str], IdempotencyRecord] = {}
        self.units: dict[tuple[str, str, str], int] = {}
        self.events: set[str] = set()
        self.messages: list[dict[str, Any]] = []
        self.shards: dict[tuple[str, str, int], StockShard] = {}
        self.writes = 0  # write requests sent (successful or not)
        self.reads = 0  # read requests (GetItem / BatchGetItem) of stock
        self.calls: list[str] = []  # stock-relevant operations, in order
        self.cold = False
        self._lock = threading.RLock()

    # products
    def get_product(self, product_id: str) -> Product | None:
        return self.products.get(product_id)

    def create_product(self, product: Product) -> None:
        self.writes += 1
        self.products[product.product_id] = product

    def save_product(self, product: Product, expected_version: int) -> None:
        with self._lock:
            self.writes += 1
            current = self.products[product.product_id]
            if current.version != expected_version:
                raise StaleWriteError("stale")
            self.products[product.product_id] = product

    # streams and pins
    def get_stream(self, stream_id: str) -> Stream | None:
        return self.streams.get(stream_id)

    def get_stream_and_product(self, stream_id: str, product_id: str) -> tuple[Stream | None, Product | None]:
        return self.streams.get(stream_id), self.products.get(product_id)

    def get_pin(self, stream_id: str, product_id: str) -> Pin | None:
        return self.pins.get((stream_id, product_id))

    def shards_of(self, pin: Pin) -> list[StockShard]:
        """The pin's shard items (test helper, not counted)."""
        found = [self.shards.get((pin.stream_id, pin.product_id, k)) for k in range(pin.shards)]
        return [s for s in found if s is not None]

    def pin_with_stock(self, stream_id: str, product_id: str) -> Pin:
        """The pin with its stock summed over its shards (test helper, not counted)."""
        pin = self.pins[(stream_id, product_id)]
        return with_stock(pin, self.shards_of(pin))

    def get_pin_stock(self, stream_id: str, product_id: str) -> tuple[Pin, list[StockShard]] | None:
        pin = self.pins.get((stream_id, product_id))
        if pin is None:
            return None
        shards = self.read_shards(pin)
        return with_stock(pin, shards), shards

    def read_shards(self, pin: Pin) -> list[StockShard]:
        self.reads += 1
        self.calls.append("read_shards")
        return self.shards_of(pin)

    def get_stock_shard(self, stream_id: str, product_id: str, shard: int) -> StockShard | None:
        return self.shards.get((stream_id, product_id, shard))

    def list_pins(self, stream_id: str) -> list[Pin]:
        pins = [p for (sid, _), p in sorted(self.pins.items()) if sid == stream_id]
        return [with_stock(p, self.shards_of(p)) if p.status == PIN_ACTIVE else p for p in pins]

    def stream_pins(self, stream_id: str) -> list[Pin]:
        self.reads += 1
        self.calls.append("stream_pins")
        return [p for (sid, _), p in sorted(self.pins.items()) if sid == stream_id]

    def create_pin(self, pin: Pin, shards: list[StockShard], message: dict[str, Any]) -> None:
        with self._lock:
            self.writes += 1
            product = self.products.get(pin.product_id)
            if product is None:
                raise ProductNotFoundError("missing")
            if product.seller_id != pin.seller_id or product.stock < pin.pinned:
                raise InsufficientStockError("stock")
            old = self.pins.get((pin.stream_id, pin.product_id))
            if old is not None and old.status != PIN_UNPINNED:
                raise AlreadyPinnedError("pinned")
            for s in shards:
                existing = self.shards.get((pin.stream_id, pin.product_id, s.shard))
                if existing is not None and not (existing.status == PIN_UNPINNED and existing.held == 0):
                    raise AlreadyPinnedError("a shard still holds units")
            stream = self.streams.get(pin.stream_id)
            if stream is None or stream.status != "live" or stream.host_id != pin.seller_id:
                raise StreamEndedError("ended")
            assert sum(s.units for s in shards) == pin.pinned
            self.products[pin.product_id] = replace(
                product, stock=product.stock - pin.pinned, version=product.version + 1
            )
            self.pins[(pin.stream_id, pin.product_id)] = pin
            for s in shards:
                self.shards[(pin.stream_id, pin.product_id, s.shard)] = s
            self.messages.append(message)

    def unpin(
        self, pin: Pin, shards: list[StockShard], now_ms: int, closed_reason: str | None = None
    ) -> None:
        with self._lock:
            self.writes += 1
            self.calls.append("unpin")
            key = (pin.stream_id, pin.product_id)
            current = self.pins.get(key)
            if current is None or current.status != PIN_ACTIVE or current.pin_id != pin.pin_id:
                raise StaleWriteError("stale")
            mine = [s for s in shards if s.pin_id == pin.pin_id and s.status == PIN_ACTIVE]
            for s in mine:  # as the dal's freeze: only the status is a condition, not remaining
                if self.shards[(*key, s.shard)].status != PIN_ACTIVE:
                    raise StaleWriteError("a shard changed")
            for s in mine:
                stored = self.shards[(*key, s.shard)]
                self.shards[(*key, s.shard)] = replace(
                    stored,
                    status=PIN_UNPINNED,
                    units=stored.units - stored.remaining,
                    remaining=0,
                    closed_reason=closed_reason,
                )
                self._to_product(pin.product_id, stored.remaining)
            self.pins[key] = replace(current, status=PIN_UNPINNED, closed_reason=closed_reason)

    def drain(self, pin: Pin, shards: list[StockShard], now_ms: int) -> None:
        with self._lock:
            key = (pin.stream_id, pin.product_id)
            for s in shards:
                stored = self.shards.get((*key, s.shard))
                if (
                    stored
                    and stored.pin_id == pin.pin_id
                    and stored.status == PIN_UNPINNED
                    and stored.remaining
                ):
                    self.writes += 1
                    self.shards[(*key, s.shard)] = replace(
                        stored, units=stored.units - stored.remaining, remaining=0
                    )
                    self._to_product(pin.product_id, stored.remaining)

    def flag_sold_out(self, pin: Pin, shards: list[StockShard]) -> None:
        with self._lock:
            self.writes += 1
            self.calls.append("flag_sold_out")
            key = (pin.stream_id, pin.product_id)
            current = self.pins.get(key)
            stored = [s for (sid, pid, _), s in self.shards.items() if (sid, pid) == key]
            if (
                current is not None
                and current.status == PIN_ACTIVE
                and current.pin_id == pin.pin_id
                and current.returns == pin.returns
                and not any(s.remaining for s in stored if s.pin_id == pin.pin_id)
            ):
                self.pins[key] = replace(current, sold_out=True)

    def _to_product(self, product_id: str, units: int) -> None:
        product = self.products[product_id]
        self.products[product_id] = replace(product, stock=product.stock + units, version=product.version + 1)

    # orders
    def read_for_order(self, stream_id: str, product_id: str, buyer_id: str, idem_key: str) -> OrderContext:
        self.reads += 1
        self.calls.append("read_for_order")
        pin = self.pins.get((stream_id, product_id))
        home = None
        if pin is not None and not self.cold:
            home = self.shards.get((stream_id, product_id, home_shard(buyer_id, pin.shards)))
        return OrderContext(
            stream=self.streams.get(stream_id),
            pin=pin,
            record=self.records.get((buyer_id, idem_key)),
            units_held=self.units.get((stream_id, product_id, buyer_id), 0),
            home=home,
        )

    def order_record(self, buyer_id: str, idem_key: str) -> IdempotencyRecord | None:
        self.reads += 1
        self.calls.append("order_record")
        return self.records.get((buyer_id, idem_key))

    def place_order(
        self, order: Order, idem_key: str, fingerprint: str, per_user_limit: int, now_ms: int
    ) -> None:
        with self._lock:
            self.writes += 1
            self.calls.append(f"place_order@{order.shard}")
            record = self.records.get((order.buyer_id, idem_key))
            if record is not None:
                raise IdempotencyReplay(record.fingerprint, record.order_id)
            skey = (order.stream_id, order.product_id, order.shard)
            shard = self.shards.get(skey)
            if shard is None:
                raise ShardShortError(0)
            pin = self.pins.get((order.stream_id, order.product_id))
            # As the dal: the stream is not checked, its end closes the shards.
            if shard.status != PIN_ACTIVE or shard.pin_id != order.pin_id or pin is None:
                if shard.closed_reason == CLOSED_STREAM_ENDED:
                    raise StreamEndedError("ended")
                raise PinNotFoundError("not pinned")
            if pin.ended(now_ms):
                raise PinExpiredError("expired")
            if shard.remaining < order.quantity:
                raise ShardShortError(shard.remaining)
            counter = (order.stream_id, order.product_id, order.buyer_id)
            if self.units.get(counter, 0) + order.quantity > per_user_limit:
                raise LimitExceededError("limit")
            self.shards[skey] = replace(
                shard, remaining=shard.remaining - order.quantity, held=shard.held + order.quantity
            )
            self.units[counter] = self.units.get(counter, 0) + order.quantity
            self.orders[order.order_id] = order
            self.records[(order.buyer_id, idem_key)] = IdempotencyRecord(fingerprint, order.order_id)

    def get_order(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    def list_orders(self, user_id: str, role: Role, limit: int, start: dict[str, Any] | None) -> OrderPage:
        field = "buyer_id" if role == "buyer" else "seller_id"
        mine = sorted(
            (o for o in self.orders.values() if getattr(o, field) == user_id),
            key=lambda o: o.order_id,
            reverse=True,
        )
        if start:
            mine = [o for o in mine if o.order_id < start["order_id"]]
        page = mine[:limit]
        last = {"order_id": page[-1].order_id} if len(mine) > limit else None
        return OrderPage(orders=page, last_key=last)

    def order_ids_of_seller(self, seller_id: str) -> list[str]:
        return sorted((o.order_id for o in self.orders.values() if o.seller_id == seller_id), reverse=True)

    def release(
        self, order: Order, new_status: str, shard: StockShard | None, now_ms: int, event_id: str | None
    ) -> None:
        with self._lock:
            self.writes += 1
            if event_id and event_id in self.events:
                raise DuplicateEventError(event_id)
            current = self.orders[order.order_id]
            if current.status != PENDING:
                raise IllegalTransitionError("not pending")
            if new_status == EXPIRED and current.expires_at_ms > now_ms:
                raise IllegalTransitionError("not expired yet")
            if new_status == CANCELLED and current.expires_at_ms <= now_ms:
                raise IllegalTransitionError("already expired")
            skey = (order.stream_id, order.product_id, order.shard)
            stored = self.shards.get(skey)
            q = order.quantity
            if shard is not None:
                if stored is None or stored.pin_id != order.pin_id or stored.status != shard.status:
                    raise StaleWriteError("shard changed")
                pkey = (order.stream_id, order.product_id)
                pin = self.pins.get(pkey)
                if shard.status == PIN_ACTIVE:
                    if pin is None or pin.pin_id != order.pin_id:
                        raise StaleWriteError("pin changed")
                    self.shards[skey] = replace(stored, remaining=stored.remaining + q, held=stored.held - q)
                    if pin.sold_out:  # the dal: a return to a sealed shard clears the flag
                        self.pins[pkey] = replace(pin, sold_out=False, returns=pin.returns + 1)
                else:
                    self.shards[skey] = replace(stored, held=stored.held - q, units=stored.units - q)
                    self._to_product(order.product_id, q)
            else:
                self._to_product(order.product_id, q)
            counter = (order.stream_id, order.product_id, order.buyer_id)
            self.units[counter] = self.units.get(counter, 0) - q
            self.orders[order.order_id] = replace(current, status=new_status)
            if event_id:
                self.events.add(event_id)

    def settle(
        self, order: Order, mode: SettleMode, now_ms: int, event_id: str, *, reason: str | None = None
    ) -> None:
        with self._lock:
            self.writes += 1
            if event_id in self.events:
                raise DuplicateEventError(event_id)
            current = self.orders[order.order_id]
            expected = PENDING if mode == "held" else order.status
            if current.status != expected:
                raise IllegalTransitionError("changed")
            key = (order.stream_id, order.product_id, order.shard)
            stored = self.shards[key]
            q = order.quantity
            if mode == "held":
                if stored.pin_id != order.pin_id:
                    raise StaleWriteError("pin changed")
                self.shards[key] = replace(stored, held=stored.held - q, sold=stored.sold + q)
            elif mode == "reserve":
                if stored.status != PIN_ACTIVE or stored.pin_id != order.pin_id or stored.remaining < q:
                    raise SoldOutError("none left")
                self.shards[key] = replace(stored, remaining=stored.remaining - q, sold=stored.sold + q)
                counter = (order.stream_id, order.product_id, order.buyer_id)
                self.units[counter] = self.units.get(counter, 0) + q
            new_status = REFUND_PENDING if mode == "refund" else PAID
            updated = replace(current, status=new_status)
            if mode == "refund" and reason is not None:
                updated = replace(updated, refund_reason=reason)
            self.orders[order.order_id] = updated
            self.events.add(event_id)

    def refund(
        self,
        order: Order,
        refund_id: str,
        now_ms: int,
        *,
        reason: str | None = None,
        event_id: str | None = None,
    ) -> None:
        with self._lock:
            self.writes += 1
            if event_id and event_id in self.events:
                raise DuplicateEventError(event_id)
            current = self.orders.get(order.order_id)
            if order.status not in (PAID, REFUND_PENDING, EXPIRED, CANCELLED, PAYMENT_FAILED):
                raise IllegalTransitionError("not refundable")
            if current is None or current.status != order.status:
                raise IllegalTransitionError("changed")
            if current.status == PAID:
                counter = (order.stream_id, order.product_id, order.buyer_id)
                self.units[counter] = self.units.get(counter, 0) - order.quantity
            now = iso_from_ms(now_ms)
            self.orders[order.order_id] = replace(
                current,
                status=REFUNDED,
                refund_id=refund_id,
                refunded_at=now,
                updated_at=now,
                refunded_cents=current.amount_cents,
                refund_reason=reason if reason is not None else current.refund_reason,
            )
            if event_id:
                self.events.add(event_id)

    def record_charge_refund(
        self, order: Order, refunded_cents: int, full: bool, refund_id: str, now_ms: int, event_id: str
    ) -> None:
        with self._lock:
            self.writes += 1
            if event_id in self.events:
                raise DuplicateEventError(event_id)
            current = self.orders[order.order_id]
            if current.status != order.status or current.refunded_cents >= refunded_cents:
                raise IllegalTransitionError("changed")
            now = iso_from_ms(now_ms)
            updated = replace(current, refunded_cents=refunded_cents, updated_at=now)
            if full and current.status in (PAID, REFUND_PENDING):
                if current.status == PAID:
                    counter = (order.stream_id, order.product_id, order.buyer_id)
                    self.units[counter] = self.units.get(counter, 0) - order.quantity
                updated = replace(
                    updated, status=REFUNDED, refunded_at=now, refund_id=current.refund_id or refund_id
                )
            self.orders[order.order_id] = updated
            self.events.add(event_id)

    def mark_disputed(self, order: Order, now_ms: int, event_id: str) -> None:
        with self._lock:
            self.writes += 1
            if event_id in self.events:
                raise DuplicateEventError(event_id)
            current = self.orders[order.order_id]
            if current.disputed:
                raise IllegalTransitionError("already disputed")
            self.orders[order.order_id] = replace(current, disputed=True, updated_at=iso_from_ms(now_ms))
            self.events.add(event_id)

    def pending_orders(self, now_ms: int) -> list[Order]:
        return [o for o in self.orders.values() if o.status == PENDING and o.expires_at_ms <= now_ms]

    def refund_pending_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status == REFUND_PENDING]


class FakeProvider:
    """Records intents and refunds; can be told to fail."""

    name = "fake"

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.refunds: list[dict[str, Any]] = []
        self.fail = False
        self.refunds_fail = False  # only refunds fail (intents still work)

    def create_intent(
        self, *, order_id: str, amount_cents: int, currency: str, metadata: dict[str, str]
    ) -> PaymentIntent:
        if self.fail:
            from chalicelib.core.errors import UnavailableError

            raise UnavailableError("provider down")
        self.created.append({"order_id": order_id, "amount_cents": amount_cents, "currency": currency})
        return PaymentIntent(self.name, f"pi_{order_id}", f"pi_{order_id}_secret")

    def cancel_intent(self, payment_intent_id: str) -> None:
        self.cancelled.append(payment_intent_id)

    def refund(self, payment_intent_id: str, amount_cents: int, *, idempotency_key: str) -> str:
        if self.fail or self.refunds_fail:
            from chalicelib.core.errors import UnavailableError

            raise UnavailableError("provider down")
        self.refunds.append(
            {"payment_intent_id": payment_intent_id, "amount_cents": amount_cents, "key": idempotency_key}
        )
        return f"re_{idempotency_key}"

    def order_id_of(self, payment_intent_id: str) -> str | None:
        return payment_intent_id[3:] if payment_intent_id.startswith("pi_") else None
