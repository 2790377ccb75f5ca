"""Response models of the checkout domain (the bodies its routes reply with)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.core.models import Currency, NextCursor, ResponseModel, Timestamp, Ulid, UserId


class Product(ResponseModel):
    """A product of a seller."""

    product_id: Ulid
    seller_id: UserId
    title: str = Field(min_length=1, max_length=200)
    price_cents: int = Field(ge=1, le=100_000_000)
    currency: Currency
    stock: int = Field(ge=0)
    created_at: Timestamp
    updated_at: Timestamp


class Payment(ResponseModel):
    """`client_secret` is shown to the buyer only (null for the seller)."""

    provider: Literal["simulator", "stripe"]
    payment_intent_id: str = Field(min_length=1)
    client_secret: str | None = Field(min_length=1)


class Order(ResponseModel):
    """An order, for its buyer or seller."""

    order_id: Ulid
    status: Literal[
        "pending_payment", "paid", "payment_failed", "expired", "cancelled", "refunded", "refund_pending"
    ]
    buyer_id: UserId
    seller_id: UserId
    stream_id: Ulid
    product_id: Ulid
    quantity: int = Field(ge=1, le=10)
    unit_price_cents: int = Field(ge=1)
    amount_cents: int = Field(ge=1)
    currency: Currency
    expires_at: Timestamp
    created_at: Timestamp
    updated_at: Timestamp
    refunded_cents: int = Field(
        ge=0, description="What Stripe reports refunded so far (a partial refund keeps the status)."
    )
    refund_reason: Literal["late_payment", "order_cancelled"] | None = Field(
        description="Set when checkout refunded on its own: the payment arrived after the units were sold to "
        "someone else, or after the buyer cancelled."
    )
    disputed: bool = Field(description="The buyer opened a chargeback.")
    payment: Payment


class OrderPage(ResponseModel):
    """One page of orders, newest first."""

    items: list[Order]
    next_cursor: NextCursor


class WebhookEvent(BaseModel):
    """A Stripe Event object (https://docs.stripe.com/api/events/object), exactly as Stripe delivers it.
    Handled types: `payment_intent.succeeded`, `payment_intent.payment_failed`, `payment_intent.canceled`
    (`data.object` is a PaymentIntent whose `metadata.order_id` names the order), `charge.refunded`
    (a Charge), `charge.dispute.created` (a Dispute). Any other `type` is acknowledged and ignored.

    The route verifies the raw bytes' signature and reads them itself (this model only describes them)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=255, examples=["evt_1PqRsT2eZvKYlo2C0a1b2c3d"])
    object: Literal["event"] = "event"
    type: str = Field(
        examples=[
            "payment_intent.succeeded",
            "payment_intent.payment_failed",
            "payment_intent.canceled",
            "charge.refunded",
            "charge.dispute.created",
        ]
    )
    created: int = 0
    livemode: bool = False
    api_version: str | None = None
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="`data.object`: a PaymentIntent (`id`, `object`, `amount`, `amount_received`, `currency` "
        "(lowercase), `metadata.order_id`, `status`), a Charge (`id`, `payment_intent`, `amount`, "
        "`amount_refunded`, `refunded`) or a Dispute (`id`, `payment_intent`, `reason`).",
    )


class WebhookResult(ResponseModel):
    """What the webhook did with the event."""

    received: Literal[True]
    result: Literal[
        "paid",
        "payment_failed",
        "amount_mismatch",
        "refunded",
        "refund_pending",
        "partially_refunded",
        "refund_recorded",
        "disputed",
        "duplicate",
        "ignored",
    ]
