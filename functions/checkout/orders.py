"""Orders: placing (never overselling), reading, cancelling, expiring, and applying payments.

Plain logic over a :class:`CheckoutRepository` and a :class:`PaymentProvider`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from functions.checkout.errors import (
    DuplicateEventError,
    IdempotencyReplay,
    IllegalTransitionError,
    LimitExceededError,
    OrderNotFoundError,
    PinExpiredError,
    PinNotFoundError,
    SoldOutError,
    StaleWriteError,
    StreamEndedError,
    StreamNotFoundError,
)
from functions.checkout.models import (
    CANCELLED,
    EXPIRED,
    HOLD_MS,
    PAID,
    PAYMENT_FAILED,
    PENDING,
    PIN_ACTIVE,
    REFUND_PENDING,
    REFUNDED,
    Order,
    OrderCreate,
    Pin,
)
from functions.checkout.payments import PaymentProvider
from functions.checkout.ports import CheckoutRepository, Role
from functions.checkout.views import order_view
from functions.core.clock import iso_from_ms
from functions.core.cursor import decode_cursor, encode_cursor
from functions.core.errors import ForbiddenError, IdempotencyKeyReusedError, UnavailableError
from functions.core.idempotency import fingerprint
from functions.core.ids import new_ulid
from functions.core.observability import logger

RETRIES = 5
SWEEP_LOOKBACK_MINUTES = 15


def order_fingerprint(stream_id: str, body: OrderCreate) -> str:
    """What makes two order requests "the same body"."""
    return fingerprint("order", stream_id, body.product_id, body.quantity)


def place_order(
    repo: CheckoutRepository,
    provider: PaymentProvider,
    *,
    buyer_id: str,
    stream_id: str,
    body: OrderCreate,
    idem_key: str,
    now_ms: int,
    new_id: Callable[[], str] = new_ulid,
) -> dict[str, Any]:
    """Reserve units of a pinned product for the buyer and open a payment for them.

    One read (stream, pin, idempotency record, buyer's units) refuses hopeless attempts without
    a write; then the provider intent is created under a pre-generated order id (its idempotency
    key), and ONE transaction stores order + reservation + counter + idempotency record. An order
    therefore never exists without its payment intent, and a failed transaction leaves only an
    unconfirmable intent, which is cancelled.
    """
    fp = order_fingerprint(stream_id, body)
    ctx = repo.read_for_order(stream_id, body.product_id, buyer_id, idem_key)
    if ctx.record is not None:
        return replay_order(repo, buyer_id, ctx.record.fingerprint, ctx.record.order_id, fp, now_ms)
    pin = _check_orderable(ctx.stream, ctx.pin, body.quantity, ctx.units_held, now_ms)

    order_id = new_id()
    amount = pin.unit_price_cents * body.quantity
    intent = provider.create_intent(
        order_id=order_id,
        amount_cents=amount,
        currency=pin.currency,
        metadata={"stream_id": stream_id, "product_id": pin.product_id, "buyer_id": buyer_id},
    )
    now = iso_from_ms(now_ms)
    order = Order(
        order_id=order_id,
        buyer_id=buyer_id,
        seller_id=pin.seller_id,
        stream_id=stream_id,
        product_id=pin.product_id,
        pin_id=pin.pin_id,
        quantity=body.quantity,
        unit_price_cents=pin.unit_price_cents,
        amount_cents=amount,
        currency=pin.currency,
        status=PENDING,
        created_at=now,
        updated_at=now,
        expires_at_ms=now_ms + HOLD_MS,
        payment=intent,
    )
    try:
        repo.place_order(order, idem_key, fp, pin.per_user_limit, now_ms)
    except IdempotencyReplay as replay:
        # A concurrent retry with the same key won the race: answer with its order.
        _abandon(provider, intent.payment_intent_id)
        return replay_order(repo, buyer_id, replay.fingerprint, replay.order_id, fp, now_ms)
    except BaseException:
        _abandon(provider, intent.payment_intent_id)
        raise
    return order_view(order, buyer_id, now_ms)


def _check_orderable(stream: Any, pin: Pin | None, quantity: int, units_held: int, now_ms: int) -> Pin:
    """Refuse from the read alone (no write): unknown, ended, expired, sold out, over limit."""
    if stream is None:
        raise StreamNotFoundError("Stream not found.")
    if pin is None or pin.status != PIN_ACTIVE:
        raise PinNotFoundError("The product is not pinned on this stream.")
    if stream.status != "live":
        raise StreamEndedError("The stream has ended.")
    if pin.ended(now_ms):
        raise PinExpiredError("This flash sale has ended.")
    if pin.sold_out or pin.remaining < quantity:
        raise SoldOutError("Not enough of this product remains.")
    if units_held + quantity > pin.per_user_limit:
        raise LimitExceededError(f"At most {pin.per_user_limit} per buyer for this sale.")
    return pin


def replay_order(
    repo: CheckoutRepository, buyer_id: str, stored_fp: str, order_id: str, fp: str, now_ms: int
) -> dict[str, Any]:
    """Same key + same body → the original order (as it is now); different body → 422."""
    if stored_fp != fp:
        raise IdempotencyKeyReusedError("This Idempotency-Key was used with a different request.")
    order = repo.get_order(order_id)
    if order is None:  # written in the same transaction as the record: cannot happen
        raise UnavailableError("The original order is not readable yet; retry.")
    return order_view(order, buyer_id, now_ms)


def abandon_intent(provider: PaymentProvider, intent_id: str) -> None:
    """Cancel a payment intent, best effort (an account deletion cancels pending orders too)."""
    _abandon(provider, intent_id)


def _abandon(provider: PaymentProvider, intent_id: str) -> None:
    try:
        provider.cancel_intent(intent_id)
    except Exception:  # best effort: an unconfirmed intent can never be charged
        logger.warning("could not cancel payment intent", extra={"intent": intent_id})


def _visible_order(repo: CheckoutRepository, caller: str, order_id: str) -> Order:
    order = repo.get_order(order_id)
    if order is None or caller not in (order.buyer_id, order.seller_id):
        raise OrderNotFoundError("Order not found.")
    return order


def get_order(repo: CheckoutRepository, caller: str, order_id: str, now_ms: int) -> dict[str, Any]:
    """The buyer or the seller sees the order; anyone else gets 404."""
    return order_view(_visible_order(repo, caller, order_id), caller, now_ms)


def list_orders(
    repo: CheckoutRepository,
    caller: str,
    role: Role,
    limit: int,
    cursor: str | None,
    cursor_secret: str,
    now_ms: int,
) -> dict[str, Any]:
    """The caller's orders as buyer or seller, newest first, with an opaque cursor."""
    listing = f"orders:{role}"
    start = decode_cursor(cursor_secret, caller, listing, cursor) if cursor else None
    page = repo.list_orders(caller, role, limit, start)
    return {
        "items": [order_view(o, caller, now_ms) for o in page.orders],
        "next_cursor": encode_cursor(cursor_secret, caller, listing, page.last_key)
        if page.last_key
        else None,
    }


def cancel_order(
    repo: CheckoutRepository, provider: PaymentProvider, caller: str, order_id: str, now_ms: int
) -> dict[str, Any]:
    """The buyer cancels a pending order; its units go back on sale."""
    order = _visible_order(repo, caller, order_id)
    if caller != order.buyer_id:
        raise ForbiddenError("Only the buyer may cancel an order.")
    if order.effective_status(now_ms) != PENDING:
        raise IllegalTransitionError(
            f"An order that is {order.effective_status(now_ms)} cannot be cancelled."
        )
    release_order(repo, order, CANCELLED, now_ms)
    _abandon(provider, order.payment.payment_intent_id)
    updated = repo.get_order(order_id) or order
    return order_view(updated, caller, now_ms)


def refund_order(
    repo: CheckoutRepository, provider: PaymentProvider, caller: str, order_id: str, now_ms: int
) -> dict[str, Any]:
    """The seller refunds a ``paid`` or ``refund_pending`` order in full → ``refunded``.

    The provider refund comes first (idempotency key: the order id, so a retry or a racing
    second click gets the same refund, never a second one), then one conditional transaction
    records it. Refunding a ``refunded`` order answers it unchanged without calling the provider;
    any other status is 409.

    Stock: nothing goes back on sale. A paid order's units stay ``sold`` (the goods were sold;
    a return is not a refund), it only stops counting against the buyer's per-user limit. A
    ``refund_pending`` order (paid after its hold ended, no stock left) held no units at all.
    """
    order = _visible_order(repo, caller, order_id)
    if caller != order.seller_id:
        raise ForbiddenError("Only the seller may refund an order.")
    if order.status == REFUNDED:
        return order_view(order, caller, now_ms)  # final: what was just read is current
    if order.status not in (PAID, REFUND_PENDING):
        raise IllegalTransitionError(f"An order that is {order.effective_status(now_ms)} cannot be refunded.")
    refund_id = provider.refund(
        order.payment.payment_intent_id, order.amount_cents, idempotency_key=order.order_id
    )
    return order_view(_record_refund(repo, order, refund_id, now_ms), caller, now_ms)


def _record_refund(repo: CheckoutRepository, order: Order, refund_id: str, now_ms: int) -> Order:
    """Store the refund and return the refunded order; a concurrent refund of the same order
    (same refund id) counts as done."""
    for _ in range(RETRIES):
        try:
            repo.refund(order, refund_id, now_ms)
        except IllegalTransitionError:
            current = repo.get_order(order.order_id)
            if current is not None and current.status == REFUNDED:
                return current
            if current is None or current.status not in (PAID, REFUND_PENDING):
                raise
            order = current
        else:
            # What repo.refund writes: no read-back needed.
            now = iso_from_ms(now_ms)
            return replace(order, status=REFUNDED, refund_id=refund_id, refunded_at=now, updated_at=now)
    raise UnavailableError("The order is changing too often; retry.")


def release_order(
    repo: CheckoutRepository, order: Order, new_status: str, now_ms: int, event_id: str | None = None
) -> None:
    """Move a pending order to ``new_status`` and return its units where they came from."""
    for _ in range(RETRIES):
        pin = repo.get_pin(order.stream_id, order.product_id)
        if pin is not None and pin.pin_id != order.pin_id:
            pin = None  # a later pin of the same product: the units go back to the product
        try:
            repo.release(order, new_status, pin, now_ms, event_id)
            return
        except StaleWriteError:
            continue  # the pin was unpinned meanwhile: re-read where the units go
    raise UnavailableError("The pin is changing too often; retry.")


def sweep_expired(
    repo: CheckoutRepository, now_ms: int, lookback_minutes: int = SWEEP_LOOKBACK_MINUTES
) -> int:
    """Expire pending orders whose hold has ended and return their units; returns how many.

    Scans the sparse pending index minute by minute (the last ``lookback_minutes`` cover a
    sweeper that missed runs). Each expiry is its own conditional transaction, so a run that
    races a payment or a replayed run changes nothing twice.
    """
    expired = 0
    current = now_ms // 60_000
    for minute in range(current - lookback_minutes, current + 1):
        for order in repo.pending_orders(minute):
            if order.status != PENDING or order.expires_at_ms > now_ms:
                continue
            try:
                release_order(repo, order, EXPIRED, now_ms)
                expired += 1
            except IllegalTransitionError:
                continue  # paid or cancelled since the index was read
    return expired


def apply_payment_succeeded(
    repo: CheckoutRepository, order_id: str, intent_id: str, event_id: str, now_ms: int
) -> str:
    """Apply ``payment_intent.succeeded``; returns what happened (for logs and the reply)."""
    for _ in range(RETRIES):
        order = repo.get_order(order_id)
        if order is None or order.payment.payment_intent_id != intent_id:
            return "ignored"
        try:
            if order.status == PENDING:
                # Even past expires_at the units are still held until the sweeper runs: keep them.
                repo.settle(order, "held", now_ms, event_id)
                return "paid"
            if order.status in (EXPIRED, PAYMENT_FAILED):
                pin = repo.get_pin(order.stream_id, order.product_id)
                if pin is not None and pin.pin_id == order.pin_id and pin.status == PIN_ACTIVE:
                    try:
                        repo.settle(order, "reserve", now_ms, event_id)
                        return "paid"
                    except (SoldOutError, StaleWriteError):
                        pass
                repo.settle(order, "refund", now_ms, event_id)
                return "refund_pending"
            if order.status == CANCELLED:
                repo.settle(order, "refund", now_ms, event_id)
                return "refund_pending"
            return "ignored"  # already paid / refunded / refund pending
        except DuplicateEventError:
            return "duplicate"
        except IllegalTransitionError:
            continue  # the order moved (e.g. the sweeper expired it): re-read and decide again
    raise UnavailableError("The order is changing too often; retry.")


def apply_payment_failed(
    repo: CheckoutRepository, order_id: str, intent_id: str, event_id: str, now_ms: int
) -> str:
    """Apply ``payment_intent.payment_failed``: a pending order fails and its units return."""
    for _ in range(RETRIES):
        order = repo.get_order(order_id)
        if order is None or order.payment.payment_intent_id != intent_id or order.status != PENDING:
            return "ignored"
        try:
            release_order(repo, order, PAYMENT_FAILED, now_ms, event_id)
            return "payment_failed"
        except DuplicateEventError:
            return "duplicate"
        except IllegalTransitionError:
            continue
    raise UnavailableError("The order is changing too often; retry.")
