"""Request models (validated at the edge) and the domain records of checkout."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from chalicelib.core.models import RequestModel

# Active ISO 4217 codes (amounts are always in the currency's minor unit).
_ISO_4217_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
    BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
    KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
    NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES
    VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL
"""
ISO_4217 = frozenset(_ISO_4217_CODES.split())
_CURRENCIES: list[Any] = sorted(ISO_4217)  # the request schema's enum

MAX_PRICE_CENTS = 100_000_000
MAX_STOCK = 1_000_000
Title = Annotated[str, Field(min_length=1, max_length=200)]
Cents = Annotated[int, Field(gt=0, le=MAX_PRICE_CENTS)]
Stock = Annotated[int, Field(ge=0, le=MAX_STOCK)]
Id = Annotated[str, Field(min_length=1, max_length=128)]


def _check_currency(value: str) -> str:
    if value not in ISO_4217:
        raise ValueError("currency must be an ISO 4217 code such as USD or EUR")
    return value


class ProductCreate(RequestModel):
    """``POST /v1/products``."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [{"properties": {"title": {"pattern": "\\S"}, "currency": {"enum": _CURRENCIES}}}]
        }
    )

    title: Title
    price_cents: Cents
    currency: str
    stock: Stock

    _currency = field_validator("currency")(_check_currency)

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value


class ProductPatch(RequestModel):
    """``PATCH /v1/products/{id}`` (seller only): any of title, price, stock."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "description": "At least one of title, price_cents, stock, not null; title not blank.",
                    "anyOf": [
                        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                        for name in ("title", "price_cents", "stock")
                    ],
                    "properties": {
                        "title": {"anyOf": [{"type": "string", "pattern": "\\S"}, {"type": "null"}]}
                    },
                }
            ]
        }
    )

    title: Title | None = None
    price_cents: Cents | None = None
    stock: Stock | None = None

    @model_validator(mode="after")
    def _something(self) -> ProductPatch:
        if self.title is None and self.price_cents is None and self.stock is None:
            raise ValueError("give at least one of title, price_cents, stock")
        if self.title is not None and not self.title.strip():
            raise ValueError("title must not be blank")
        return self


class PinCreate(RequestModel):
    """``POST /v1/streams/{id}/pins``."""

    product_id: Id
    flash_price_cents: Cents | None = None
    flash_stock: Annotated[int, Field(ge=1, le=MAX_STOCK)] | None = None
    per_user_limit: Annotated[int, Field(ge=1, le=10)] = 5
    duration_seconds: Annotated[int, Field(ge=10, le=3600)] | None = None
    # Sizes the pin's stock shards (S = ceil(peak / 250), S <= 100, S <= units).
    expected_peak_orders_per_second: Annotated[int, Field(ge=1, le=100_000)] = 1_000


class OrderCreate(RequestModel):
    """``POST /v1/streams/{id}/orders``: no price field exists, so sending one is a 400."""

    product_id: Id
    quantity: Annotated[int, Field(ge=1, le=10)]


# --- domain records ---------------------------------------------------------------------------

PENDING = "pending_payment"
PAID = "paid"
PAYMENT_FAILED = "payment_failed"
EXPIRED = "expired"
CANCELLED = "cancelled"
REFUNDED = "refunded"
REFUND_PENDING = "refund_pending"
# Why checkout refunded a payment without the seller asking.
LATE_PAYMENT = "late_payment"
ORDER_CANCELLED = "order_cancelled"

PIN_ACTIVE = "active"
PIN_UNPINNED = "unpinned"
# Why a pin and its stock shards were unpinned by something other than the host's unpin
# (``closed_reason``; absent when the host unpinned them).
CLOSED_STREAM_ENDED = "stream_ended"

HOLD_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class Product:
    """A seller's product; ``stock`` is what is not carved out into pins."""

    product_id: str
    seller_id: str
    title: str
    price_cents: int
    currency: str
    stock: int
    created_at: str
    updated_at: str
    version: int = 0


@dataclass(frozen=True)
class Stream:
    """What checkout needs to know about a live stream (owned by the live domain)."""

    stream_id: str
    host_id: str
    status: str


@dataclass(frozen=True)
class StockShard:
    """One of a pin's stock shards. Invariant: ``remaining + held + sold == units``.

    ``sealed``: found empty by the sold-out decision (every shard sealed, then the pin flagged);
    a return of units to a sealed shard unseals it and clears the pin's flag in the same
    transaction, so the flag never stands while a shard holds units. ``closed_reason``:
    ``stream_ended`` when ending the stream closed the shard (a host's unpin leaves it None).
    """

    shard: int
    pin_id: str
    units: int
    remaining: int
    held: int = 0
    sold: int = 0
    status: str = PIN_ACTIVE
    sealed: bool = False
    closed_reason: str | None = None


@dataclass(frozen=True)
class Pin:
    """A product pinned on a stream; its stock lives in ``shards`` stock-shard items.

    The pin item holds the sale's settings, the ``sold_out`` flag and ``returns`` (a counter
    bumped by every return that unseals a shard, so the flag is never set on a stale read).
    Orders and ordinary returns never write the pin item (one item caps at 1,000 WCU/s).
    ``remaining``/``held``/``sold``/``pinned`` are the sums over the shards when the pin was read
    together with them (:func:`with_stock`); a bare pin read leaves them as created.
    Invariant: ``remaining + held + sold == pinned``.
    """

    stream_id: str
    product_id: str
    pin_id: str
    seller_id: str
    title: str
    price_cents: int
    currency: str
    per_user_limit: int
    pinned: int
    remaining: int
    held: int = 0
    sold: int = 0
    sold_out: bool = False
    status: str = PIN_ACTIVE
    flash_price_cents: int | None = None
    ends_at_ms: int | None = None
    created_at: str = ""
    shards: int = 1
    returns: int = 0
    expected_peak_orders_per_second: int = 1_000
    # As on its stock shards: ``CLOSED_STREAM_ENDED`` once ending the stream unpinned it.
    closed_reason: str | None = None

    @property
    def unit_price_cents(self) -> int:
        """The price a buyer pays: the flash price if set, else the product's price at pin time."""
        return self.flash_price_cents if self.flash_price_cents is not None else self.price_cents

    def ended(self, now_ms: int) -> bool:
        """True once the pin's duration has run out."""
        return self.ends_at_ms is not None and now_ms >= self.ends_at_ms


def with_stock(pin: Pin, shards: list[StockShard]) -> Pin:
    """The pin with ``remaining``/``held``/``sold``/``pinned`` summed over its own shards (items
    of an earlier pin of the same product are ignored)."""
    mine = [s for s in shards if s.pin_id == pin.pin_id]
    return replace(
        pin,
        remaining=sum(s.remaining for s in mine if s.status == PIN_ACTIVE),
        held=sum(s.held for s in mine),
        sold=sum(s.sold for s in mine),
        pinned=sum(s.units for s in mine),
    )


@dataclass(frozen=True)
class PaymentIntent:
    """What a payment provider returns for an order."""

    provider: str
    payment_intent_id: str
    client_secret: str


@dataclass(frozen=True)
class Order:
    """An order; stock is held while ``pending_payment`` until ``expires_at_ms``."""

    order_id: str
    buyer_id: str
    seller_id: str
    stream_id: str
    product_id: str
    pin_id: str
    quantity: int
    unit_price_cents: int
    amount_cents: int
    currency: str
    status: str
    created_at: str
    updated_at: str
    expires_at_ms: int
    payment: PaymentIntent
    # Set once the order is refunded (the provider's refund id and when).
    refund_id: str | None = None
    refunded_at: str | None = None
    # What the provider says was refunded so far (a partial refund leaves the status alone),
    # why we refunded on our own (``late_payment``, ``order_cancelled``), and a chargeback.
    refunded_cents: int = 0
    refund_reason: str | None = None
    disputed: bool = False
    # The stock shard the units came from (and go back to).
    shard: int = 0

    def effective_status(self, now_ms: int) -> str:
        """The status a reader sees: a pending order past its hold is ``expired``."""
        if self.status == PENDING and now_ms >= self.expires_at_ms:
            return EXPIRED
        return self.status


@dataclass(frozen=True)
class IdempotencyRecord:
    """The stored outcome of an order request's Idempotency-Key."""

    fingerprint: str
    order_id: str


@dataclass
class OrderPage:
    """One page of orders and the position after it (None at the end)."""

    orders: list[Order] = field(default_factory=list)
    last_key: dict[str, Any] | None = None
