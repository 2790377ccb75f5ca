"""What the checkout logic needs from storage, as a Protocol (``dal.py`` implements it against
DynamoDB; unit tests use an in-memory fake with the same transaction semantics)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.checkout.models import PaymentIntent


from dataclasses import dataclass
from typing import Literal

from chalicelib.checkout.models import IdempotencyRecord, Order, OrderPage, Pin, Product, StockShard, Stream

Role = Literal["buyer", "seller"]
SettleMode = Literal["held", "reserve", "refund"]


@dataclass(frozen=True)
class OrderContext:
    """Everything placing an order reads first, in one round trip."""

    stream: Stream | None
    pin: Pin | None
    record: IdempotencyRecord | None
    units_held: int
    # The buyer's home stock shard, when the repository could read it in the same round trip
    # (it knows the pin's shard count once it has seen the pin); None = not read.
    home: StockShard | None = None


class CheckoutRepository(Protocol):
    """Storage operations of checkout; every multi-item change is one atomic transaction."""

    def get_product(self, product_id: str) -> Product | None:
        """A product, or None."""
        ...

    def create_product(self, product: Product) -> None:
        """Store a new product."""
        ...

    def save_product(self, product: Product, expected_version: int) -> None:
        """Overwrite a product's fields if its version is unchanged (else ``StaleWriteError``)."""
        ...

    def get_stream(self, stream_id: str) -> Stream | None:
        """The live stream's host and status, or None."""
        ...

    def get_stream_and_product(self, stream_id: str, product_id: str) -> tuple[Stream | None, Product | None]:
        """Both in one read."""
        ...

    def get_pin(self, stream_id: str, product_id: str) -> Pin | None:
        """The pin item alone (strongly consistent), or None; its stock counters are as created."""
        ...

    def get_pin_stock(self, stream_id: str, product_id: str) -> tuple[Pin, list[StockShard]] | None:
        """The pin with its stock summed over its shards, and the shards (pin read + one
        BatchGetItem of the shards), or None."""
        ...

    def read_shards(self, pin: Pin) -> list[StockShard]:
        """Every stock shard of ``pin`` (one strongly consistent BatchGetItem)."""
        ...

    def get_stock_shard(self, stream_id: str, product_id: str, shard: int) -> StockShard | None:
        """One stock shard (strongly consistent), or None."""
        ...

    def list_pins(self, stream_id: str) -> list[Pin]:
        """Every pin of a stream, active ones with ``remaining`` summed over their shards."""
        ...

    def stream_pins(self, stream_id: str) -> list[Pin]:
        """Every pin of a stream as stored (one strongly consistent Query; no shard read, so the
        stock counters are as created)."""
        ...

    def create_pin(self, pin: Pin, shards: list[StockShard], message: dict[str, Any]) -> None:
        """Carve ``pin.pinned`` out of the product's stock, store the pin and its stock shards
        and post ``message`` in the stream's chat, atomically (a pin of more than 96 shards
        stores the rest in a second transaction that carves their units itself). Raises
        ``InsufficientStockError``, ``AlreadyPinnedError``, ``StreamEndedError``."""
        ...

    def unpin(
        self, pin: Pin, shards: list[StockShard], now_ms: int, closed_reason: str | None = None
    ) -> None:
        """Mark the pin's active shards and the pin unpinned (with ``closed_reason`` when given)
        whatever orders did meanwhile, then move what the shards hold to the product
        (``StaleWriteError`` if the pin changed or another unpin moved the units first)."""
        ...

    def drain(self, pin: Pin, shards: list[StockShard], now_ms: int) -> None:
        """Move what ``pin``'s unpinned shards (as read) still hold to the product
        (``StaleWriteError`` if one changed meanwhile); nothing to move → nothing written."""
        ...

    def flag_sold_out(self, pin: Pin, shards: list[StockShard]) -> None:
        """Best effort, once all of ``shards`` (read strongly) are empty: seal them and set the
        pin's ``sold_out`` flag, unless a return landed since (then units are back: nothing is
        flagged and nothing is raised; a busy table is not an error either)."""
        ...

    def read_for_order(self, stream_id: str, product_id: str, buyer_id: str, idem_key: str) -> OrderContext:
        """Stream, pin, idempotency record, the buyer's held units and home shard, in one read
        (the stream and pin may come from a short per-container cache; see the dal)."""
        ...

    def order_record(self, buyer_id: str, idem_key: str) -> IdempotencyRecord | None:
        """The buyer's idempotency record of an order under ``idem_key``, read strongly."""
        ...

    def place_order(
        self, order: Order, idem_key: str, fingerprint: str, per_user_limit: int, now_ms: int
    ) -> None:
        """Reserve ``order.quantity`` units of stock shard ``order.shard``, count the buyer's
        units, store the order and the idempotency record in one transaction. Raises
        ``IdempotencyReplay``, ``PinNotFoundError``, ``PinExpiredError``, ``ShardShortError``
        (that shard lacks the units), ``StreamEndedError`` or ``LimitExceededError``."""
        ...

    def get_order(self, order_id: str) -> Order | None:
        """An order, or None."""
        ...

    def list_orders(self, user_id: str, role: Role, limit: int, start: dict[str, Any] | None) -> OrderPage:
        """A user's orders as buyer or seller, newest first; ``start`` is a previous page's
        ``last_key`` (set only when more orders may follow)."""
        ...

    def order_ids_of_seller(self, seller_id: str) -> list[str]:
        """Ids of every order the seller sold (all of their sale pointers), newest first."""
        ...

    def release(
        self, order: Order, new_status: str, shard: StockShard | None, now_ms: int, event_id: str | None
    ) -> None:
        """Move a pending order to ``new_status`` and return its units to the stock shard they
        came from (``shard``, as read: if it is still active; an unpinned shard passes them to the
        product; None = the shard belongs to a later pin, the product gets them), atomically.
        ``IllegalTransitionError`` if the order is no
        longer pending (or, for ``expired``/``cancelled``, on the wrong side of its expiry);
        ``StaleWriteError`` if the shard changed; ``DuplicateEventError`` for a seen event."""
        ...

    def settle(
        self, order: Order, mode: SettleMode, now_ms: int, event_id: str, *, reason: str | None = None
    ) -> None:
        """Apply a successful payment: ``held`` (pending → paid, held → sold), ``reserve``
        (expired/failed → paid taking fresh units, ``SoldOutError`` if none) or ``refund``
        (→ refund_pending, remembering the automatic refund's ``reason``).
        ``IllegalTransitionError`` if the order's status changed meanwhile;
        ``DuplicateEventError`` for a seen event."""
        ...

    def refund(
        self,
        order: Order,
        refund_id: str,
        now_ms: int,
        *,
        reason: str | None = None,
        event_id: str | None = None,
    ) -> None:
        """Move an order from ``order.status`` (paid, refund_pending, or — for an automatic
        refund of a late payment — expired, cancelled, payment_failed) to ``refunded`` with
        ``refund_id``, ``refunded_at`` (= ``updated_at``, from ``now_ms``), ``refunded_cents`` =
        the amount and ``refund_reason``, atomically, if its status is still ``order.status``
        (else ``IllegalTransitionError``; ``DuplicateEventError`` for a seen event). A paid
        order's units stay sold but leave the buyer's counter; stock is never returned."""
        ...

    def record_charge_refund(
        self, order: Order, refunded_cents: int, full: bool, refund_id: str, now_ms: int, event_id: str
    ) -> None:
        """Raise ``refunded_cents`` to the provider's total; ``full`` moves a paid or
        refund_pending order to ``refunded``. ``IllegalTransitionError`` if the status changed
        or the total is not higher; ``DuplicateEventError`` for a seen event."""
        ...

    def mark_disputed(self, order: Order, now_ms: int, event_id: str) -> None:
        """Set ``disputed`` once (``IllegalTransitionError`` if already set)."""
        ...

    def pending_orders(self, now_ms: int) -> list[Order]:
        """Every order still indexed as pending whose hold ended at or before ``now_ms``
        (no look-back limit)."""
        ...

    def refund_pending_orders(self) -> list[Order]:
        """Orders whose automatic refund has not gone through yet."""
        ...


class PaymentProvider(Protocol):
    """Creates (and abandons) payment intents and refunds them; the provider's idempotency key
    is the order id."""

    name: str

    def create_intent(
        self, *, order_id: str, amount_cents: int, currency: str, metadata: dict[str, str]
    ) -> PaymentIntent:
        """Create (or, for the same ``order_id``, return again) the intent of an order."""
        ...

    def cancel_intent(self, payment_intent_id: str) -> None:
        """Best-effort: abandon an intent whose order was never stored, was cancelled, or whose
        hold ended (the buyer can no longer pay it)."""
        ...

    def refund(self, payment_intent_id: str, amount_cents: int, *, idempotency_key: str) -> str:
        """Refund ``amount_cents`` of a succeeded intent; returns the refund id. The same
        ``idempotency_key`` (the order id) returns the same refund, never a second one."""
        ...

    def order_id_of(self, payment_intent_id: str) -> str | None:
        """The order an intent was created for (its ``metadata.order_id``), or None; used for
        events whose object does not carry our metadata (disputes)."""
        ...
