"""In-memory stand-ins for the checkout repository and payment provider.

The fake repository keeps the dal's transaction semantics: every operation checks all of its
conditions first and then applies all of its effects, or raises and changes nothing.
"""

from __future__ import annotations

import threading
from dataclasses import replace
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
    CANCELLED,
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
    Stream,
)
from functions.checkout.ports import OrderContext, Role, SettleMode
from functions.core.clock import iso_from_ms


class FakeRepository:
    """Implements ``CheckoutRepository`` in memory; counts writes like DynamoDB would bill them."""

    def __init__(self) -> None:
        self.products: dict[str, Product] = {}
        self.streams: dict[str, Stream] = {}
        self.pins: dict[tuple[str, str], Pin] = {}
        self.orders: dict[str, Order] = {}
        self.records: dict[tuple[str, str], IdempotencyRecord] = {}
        self.units: dict[tuple[str, str, str], int] = {}
        self.events: set[str] = set()
        self.messages: list[dict[str, Any]] = []
        self.writes = 0  # write requests sent (successful or not)
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

    def list_pins(self, stream_id: str) -> list[Pin]:
        return [p for (sid, _), p in sorted(self.pins.items()) if sid == stream_id]

    def create_pin(self, pin: Pin, message: dict[str, Any]) -> None:
        with self._lock:
            self.writes += 1
            product = self.products.get(pin.product_id)
            if product is None:
                raise ProductNotFoundError("missing")
            if product.seller_id != pin.seller_id or product.stock < pin.pinned:
                raise InsufficientStockError("stock")
            old = self.pins.get((pin.stream_id, pin.product_id))
            if old is not None and not (old.status == PIN_UNPINNED and old.held == 0):
                raise AlreadyPinnedError("pinned")
            stream = self.streams.get(pin.stream_id)
            if stream is None or stream.status != "live" or stream.host_id != pin.seller_id:
                raise StreamEndedError("ended")
            self.products[pin.product_id] = replace(
                product, stock=product.stock - pin.pinned, version=product.version + 1
            )
            self.pins[(pin.stream_id, pin.product_id)] = pin
            self.messages.append(message)

    def unpin(self, pin: Pin, now_ms: int) -> None:
        with self._lock:
            self.writes += 1
            current = self.pins.get((pin.stream_id, pin.product_id))
            if (
                current is None
                or current.status != PIN_ACTIVE
                or current.pin_id != pin.pin_id
                or current.remaining != pin.remaining
            ):
                raise StaleWriteError("stale")
            self.pins[(pin.stream_id, pin.product_id)] = replace(
                current, status=PIN_UNPINNED, pinned=current.pinned - current.remaining, remaining=0
            )
            self._to_product(pin.product_id, current.remaining)

    def _to_product(self, product_id: str, units: int) -> None:
        product = self.products[product_id]
        self.products[product_id] = replace(product, stock=product.stock + units, version=product.version + 1)

    # orders
    def read_for_order(self, stream_id: str, product_id: str, buyer_id: str, idem_key: str) -> OrderContext:
        return OrderContext(
            stream=self.streams.get(stream_id),
            pin=self.pins.get((stream_id, product_id)),
            record=self.records.get((buyer_id, idem_key)),
            units_held=self.units.get((stream_id, product_id, buyer_id), 0),
        )

    def place_order(
        self, order: Order, idem_key: str, fingerprint: str, per_user_limit: int, now_ms: int
    ) -> None:
        with self._lock:
            self.writes += 1
            record = self.records.get((order.buyer_id, idem_key))
            if record is not None:
                raise IdempotencyReplay(record.fingerprint, record.order_id)
            pin = self.pins.get((order.stream_id, order.product_id))
            if pin is None or pin.status != PIN_ACTIVE or pin.pin_id != order.pin_id:
                raise PinNotFoundError("not pinned")
            stream = self.streams.get(order.stream_id)
            if stream is None or stream.status != "live":
                raise StreamEndedError("ended")
            if pin.ended(now_ms):
                raise PinExpiredError("expired")
            if pin.remaining < order.quantity:
                if pin.remaining == 0 and not pin.sold_out:
                    self.writes += 1
                    self.pins[(order.stream_id, order.product_id)] = replace(pin, sold_out=True)
                raise SoldOutError("sold out")
            counter = (order.stream_id, order.product_id, order.buyer_id)
            if self.units.get(counter, 0) + order.quantity > per_user_limit:
                raise LimitExceededError("limit")
            self.pins[(order.stream_id, order.product_id)] = replace(
                pin, remaining=pin.remaining - order.quantity, held=pin.held + order.quantity
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

    def release(
        self, order: Order, new_status: str, pin: Pin | None, now_ms: int, event_id: str | None
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
            key = (order.stream_id, order.product_id)
            stored = self.pins.get(key)
            q = order.quantity
            if pin is not None:
                if stored is None or stored.pin_id != pin.pin_id or stored.status != pin.status:
                    raise StaleWriteError("pin changed")
                if pin.status == PIN_ACTIVE:
                    self.pins[key] = replace(
                        stored, remaining=stored.remaining + q, held=stored.held - q, sold_out=False
                    )
                else:
                    self.pins[key] = replace(stored, held=stored.held - q, pinned=stored.pinned - q)
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
            key = (order.stream_id, order.product_id)
            stored = self.pins[key]
            q = order.quantity
            if mode == "held":
                if stored.pin_id != order.pin_id:
                    raise StaleWriteError("pin changed")
                self.pins[key] = replace(stored, held=stored.held - q, sold=stored.sold + q)
            elif mode == "reserve":
                if stored.status != PIN_ACTIVE or stored.pin_id != order.pin_id or stored.remaining < q:
                    raise SoldOutError("none left")
                self.pins[key] = replace(stored, remaining=stored.remaining - q, sold=stored.sold + q)
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
            from functions.core.errors import UnavailableError

            raise UnavailableError("provider down")
        self.created.append({"order_id": order_id, "amount_cents": amount_cents, "currency": currency})
        return PaymentIntent(self.name, f"pi_{order_id}", f"pi_{order_id}_secret")

    def cancel_intent(self, payment_intent_id: str) -> None:
        self.cancelled.append(payment_intent_id)

    def refund(self, payment_intent_id: str, amount_cents: int, *, idempotency_key: str) -> str:
        if self.fail or self.refunds_fail:
            from functions.core.errors import UnavailableError

            raise UnavailableError("provider down")
        self.refunds.append(
            {"payment_intent_id": payment_intent_id, "amount_cents": amount_cents, "key": idempotency_key}
        )
        return f"re_{idempotency_key}"

    def order_id_of(self, payment_intent_id: str) -> str | None:
        return payment_intent_id[3:] if payment_intent_id.startswith("pi_") else None
