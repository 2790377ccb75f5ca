"""Orders: placing (never overselling), reading, cancelling, expiring, and applying payments.

Plain logic over a :class:`CheckoutRepository` and a :class:`PaymentProvider`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chalicelib.checkout import stock_shards
from chalicelib.checkout.errors import (
    DuplicateEventError,
    IdempotencyReplay,
    IllegalTransitionError,
    LimitExceededError,
    OrderNotFoundError,
    PinExpiredError,
    PinNotFoundError,
    ShardShortError,
    SoldOutError,
    StaleWriteError,
    StreamEndedError,
    StreamNotFoundError,
)
from chalicelib.checkout.models import (
    CANCELLED,
    CLOSED_STREAM_ENDED,
    EXPIRED,
    HOLD_MS,
    LATE_PAYMENT,
    ORDER_CANCELLED,
    PAID,
    PAYMENT_FAILED,
    PENDING,
    PIN_ACTIVE,
    REFUND_PENDING,
    REFUNDED,
    Order,
    OrderCreate,
    Pin,
    StockShard,
)
from chalicelib.checkout.payments import PaymentProvider
from chalicelib.checkout.ports import CheckoutRepository, Role
from chalicelib.checkout.views import order_view
from chalicelib.core.clock import iso_from_ms
from chalicelib.core.cursor import decode_cursor, encode_cursor
from chalicelib.core.errors import ForbiddenError, UnavailableError
from chalicelib.core.idempotency import ensure_same_request, fingerprint
from chalicelib.core.ids import new_ulid
from chalicelib.core.observability import logger

RETRIES = 5
FALLOVERS = 3  # shard switches per order before answering 503 (each is one read + one transaction)


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

    One read (stream, pin, idempotency record, buyer's units and, when the pin's shard count is
    known, the buyer's home stock shard) refuses hopeless attempts without a write; then the
    provider intent is created under a pre-generated order id (its idempotency key), and ONE
    transaction stores order + reservation on one stock shard + counter + idempotency record.
    An order therefore never exists without its payment intent, and a failed transaction leaves
    only an unconfirmable intent, which is cancelled.

    Stock: the order draws from the shard its buyer id hashes to; if that shard lacks the units,
    ONE read of all shards picks another that has them (``sold_out`` only when none can serve
    the quantity; a quantity above every shard's remainder is ``sold_out`` even if the total
    would cover it). Once every shard is empty the pin's ``sold_out`` flag is set, so later
    attempts are refused from the first read, without a write. A ``sold_out`` decided from
    a fallover read first re-reads the idempotency record: a concurrent retry of the same
    request that took the last unit meanwhile is answered with its order.
    """
    fp = order_fingerprint(stream_id, body)
    ctx = repo.read_for_order(stream_id, body.product_id, buyer_id, idem_key)
    if ctx.record is not None:
        return replay_order(repo, buyer_id, ctx.record.fingerprint, ctx.record.order_id, fp, now_ms)
    pin = _check_orderable(ctx.stream, ctx.pin, body.quantity, ctx.units_held, now_ms)
    quantity = body.quantity
    home = stock_shards.home_shard(buyer_id, pin.shards)
    target = home
    known = ctx.home
    home_is_short = known is not None and (known.status != PIN_ACTIVE or known.remaining < quantity)
    if known is not None and known.shard == home and known.pin_id == pin.pin_id and home_is_short:
        try:
            target = _fallover(repo, pin, quantity, buyer_id, avoid=home)
        except SoldOutError:
            return _replay_or_sold_out(repo, buyer_id, idem_key, fp, now_ms)

    order_id = new_id()
    amount = pin.unit_price_cents * quantity
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
        quantity=quantity,
        unit_price_cents=pin.unit_price_cents,
        amount_cents=amount,
        currency=pin.currency,
        status=PENDING,
        created_at=now,
        updated_at=now,
        expires_at_ms=now_ms + HOLD_MS,
        payment=intent,
        shard=target,
    )
    try:
        order = _reserve(repo, order, idem_key, fp, pin, now_ms)
    except IdempotencyReplay as replay:
        # A concurrent retry with the same key won the race: answer with its order.
        _abandon(provider, intent.payment_intent_id)
        return replay_order(repo, buyer_id, replay.fingerprint, replay.order_id, fp, now_ms)
    except SoldOutError:
        _abandon(provider, intent.payment_intent_id)
        return _replay_or_sold_out(repo, buyer_id, idem_key, fp, now_ms)
    except BaseException:
        _abandon(provider, intent.payment_intent_id)
        raise
    return order_view(order, buyer_id, now_ms)


def _replay_or_sold_out(
    repo: CheckoutRepository, buyer_id: str, idem_key: str, fp: str, now_ms: int
) -> dict[str, Any]:
    """Sold out was decided from shards read AFTER the idempotency record (a fallover): a
    concurrent retry of this very request may have taken the last units in between, and the
    client must not be told "sold out" while its order stands. One more read decides."""
    record = repo.order_record(buyer_id, idem_key)
    if record is None:
        raise SoldOutError("Not enough of this product remains.")
    return replay_order(repo, buyer_id, record.fingerprint, record.order_id, fp, now_ms)


def _reserve(repo: CheckoutRepository, order: Order, idem_key: str, fp: str, pin: Pin, now_ms: int) -> Order:
    """The order transaction on ``order.shard``; a shard that turns out short sends it over
    to another one (a fresh read of all shards each time), a bounded number of times."""
    for switch in range(FALLOVERS + 1):
        try:
            repo.place_order(order, idem_key, fp, pin.per_user_limit, now_ms)
            return order
        except ShardShortError:
            if switch == FALLOVERS:
                break  # lost the race for the last units this many times: let the client retry
            shard = _fallover(repo, pin, order.quantity, order.buyer_id, avoid=order.shard)
            order = replace(order, shard=shard)
    raise UnavailableError("The sale is too busy right now; retry.")


def _fallover(repo: CheckoutRepository, pin: Pin, quantity: int, buyer_id: str, avoid: int) -> int:
    """ONE read of every shard; a shard that can serve ``quantity``, else ``SoldOutError``
    (after flagging the pin sold out when every shard is empty)."""
    shards = [s for s in repo.read_shards(pin) if s.pin_id == pin.pin_id and s.status == PIN_ACTIVE]
    left = {s.shard: s.remaining for s in shards}
    chosen = stock_shards.fallover_shard(left, quantity, buyer_id, avoid)
    if chosen is not None:
        return chosen
    if not any(left.values()) and not pin.sold_out:
        repo.flag_sold_out(pin, shards)
    raise SoldOutError("Not enough of this product remains.")


def _check_orderable(stream: Any, pin: Pin | None, quantity: int, units_held: int, now_ms: int) -> Pin:
    """Refuse from the read alone (no write): unknown, ended, expired, sold out, over limit."""
    if stream is None:
        raise StreamNotFoundError("Stream not found.")
    if pin is not None and pin.closed_reason == CLOSED_STREAM_ENDED:
        raise StreamEndedError("The stream has ended.")  # ending it unpinned the sale
    if stream.status != "live":
        raise StreamEndedError("The stream has ended.")
    if pin is None or pin.status != PIN_ACTIVE:
        raise PinNotFoundError("The product is not pinned on this stream.")
    if pin.ended(now_ms):
        raise PinExpiredError("This flash sale has ended.")
    if pin.sold_out:
        raise SoldOutError("Not enough of this product remains.")
    if units_held + quantity > pin.per_user_limit:
        raise LimitExceededError(f"At most {pin.per_user_limit} per buyer for this sale.")
    return pin


def replay_order(
    repo: CheckoutRepository, buyer_id: str, stored_fp: str, order_id: str, fp: str, now_ms: int
) -> dict[str, Any]:
    """Same key + same body → the original order (as it is now); different body → 422."""
    ensure_same_request(stored_fp, fp)
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


def _record_refund(
    repo: CheckoutRepository, order: Order, refund_id: str, now_ms: int, reason: str | None = None
) -> Order:
    """Store the refund and return the refunded order; a concurrent refund of the same order
    (same refund id) counts as done."""
    for _ in range(RETRIES):
        try:
            repo.refund(order, refund_id, now_ms, reason=reason)
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
            return replace(
                order,
                status=REFUNDED,
                refund_id=refund_id,
                refunded_at=now,
                updated_at=now,
                refunded_cents=order.amount_cents,
                refund_reason=reason if reason is not None else order.refund_reason,
            )
    raise UnavailableError("The order is changing too often; retry.")


def release_order(
    repo: CheckoutRepository,
    order: Order,
    new_status: str,
    now_ms: int,
    event_id: str | None = None,
    *,
    assume_active_pin: bool = False,
) -> None:
    """Move a pending order to ``new_status`` and return its units to the stock shard they came
    from (the order records it).

    ``assume_active_pin`` skips the shard read on the first attempt (the transaction's condition
    checks the shard is still the order's pin's and active; if not, the shard is read and it
    retries): a webhook then costs one read and one transaction.
    """
    for attempt in range(RETRIES):
        if assume_active_pin and attempt == 0:
            shard: StockShard | None = _assumed_shard(order)
        else:
            shard = repo.get_stock_shard(order.stream_id, order.product_id, order.shard)
        if shard is not None and shard.pin_id != order.pin_id:
            shard = None  # a later pin of the same product: the units go back to the product
        try:
            repo.release(order, new_status, shard, now_ms, event_id)
            return
        except StaleWriteError:
            continue  # the shard was unpinned meanwhile: re-read where the units go
    raise UnavailableError("The pin is changing too often; retry.")


def _assumed_shard(order: Order) -> StockShard:
    """The order's stock shard while its sale runs (only ``pin_id`` and ``status`` are used)."""
    return StockShard(shard=order.shard, pin_id=order.pin_id, units=0, remaining=0)


def sweep_expired(repo: CheckoutRepository, now_ms: int, provider: PaymentProvider | None = None) -> int:
    """Expire pending orders whose hold has ended, return their units and cancel their payment
    intents at the provider (so the buyer can no longer pay them); returns how many.

    The pending index is sorted by hold end, so one range query per shard finds every overdue
    order however long the sweeper was down. Each expiry is its own conditional transaction,
    so a run that races a payment or a replayed run changes nothing twice.
    """
    expired = 0
    for order in repo.pending_orders(now_ms):
        if order.status != PENDING or order.expires_at_ms > now_ms:
            continue
        try:
            release_order(repo, order, EXPIRED, now_ms)
        except IllegalTransitionError:
            continue  # paid or cancelled since the index was read
        expired += 1
        if provider is not None:
            _abandon(provider, order.payment.payment_intent_id)
    return expired


def retry_refunds(repo: CheckoutRepository, provider: PaymentProvider, now_ms: int) -> int:
    """Retry the automatic refunds that failed (``refund_pending``); returns how many went
    through. The provider's idempotency key is the order id, so a retry never refunds twice."""
    done = 0
    for order in repo.refund_pending_orders():
        if order.status != REFUND_PENDING:
            continue
        try:
            refund_id = provider.refund(
                order.payment.payment_intent_id, order.amount_cents, idempotency_key=order.order_id
            )
            _record_refund(repo, order, refund_id, now_ms, order.refund_reason or LATE_PAYMENT)
        except (UnavailableError, IllegalTransitionError):
            logger.warning("automatic refund still pending", extra={"order_id": order.order_id})
            continue
        done += 1
    return done


def _refund_late(
    repo: CheckoutRepository,
    provider: PaymentProvider | None,
    order: Order,
    reason: str,
    event_id: str,
    now_ms: int,
) -> str:
    """A payment that can no longer buy anything is refunded at once (provider idempotency key:
    the order id); while the provider is down the order is ``refund_pending`` and the sweeper
    retries."""
    refund_id: str | None = None
    if provider is not None:
        try:
            refund_id = provider.refund(
                order.payment.payment_intent_id, order.amount_cents, idempotency_key=order.order_id
            )
        except UnavailableError:
            logger.warning("automatic refund failed; will retry", extra={"order_id": order.order_id})
    if refund_id is None:
        repo.settle(order, "refund", now_ms, event_id, reason=reason)
        return "refund_pending"
    repo.refund(order, refund_id, now_ms, reason=reason, event_id=event_id)
    return "refunded"


def _refund_mismatch(
    repo: CheckoutRepository,
    provider: PaymentProvider | None,
    order: Order,
    amount_received: int,
    event_id: str,
    now_ms: int,
) -> str:
    """Stripe took a different amount or currency than the order's: that is not a payment of
    this order. Refund what was received; a pending order fails and its units return."""
    if order.status in (PAID, REFUNDED, REFUND_PENDING):
        return "ignored"  # this intent already paid the order: a second success cannot be
    if provider is None:
        raise UnavailableError("No payment provider to refund a mismatched payment; retry.")
    if amount_received > 0:
        provider.refund(order.payment.payment_intent_id, amount_received, idempotency_key=order.order_id)
    if order.status == PENDING:
        release_order(repo, order, PAYMENT_FAILED, now_ms, event_id, assume_active_pin=True)
    return "amount_mismatch"


def apply_payment_succeeded(
    repo: CheckoutRepository,
    order_id: str,
    intent_id: str,
    event_id: str,
    now_ms: int,
    *,
    provider: PaymentProvider | None = None,
    amount_received: int | None = None,
    currency: str | None = None,
) -> str:
    """Apply ``payment_intent.succeeded``; returns what happened (for logs and the reply).

    Pending → paid (the held units are sold). Released (expired / failed) → paid again from
    the remaining units, or — sold to someone else meanwhile — refunded at once. Cancelled by
    the buyer → refunded. An amount or currency other than the order's is refunded and fails
    the order.
    """
    for _ in range(RETRIES):
        order = repo.get_order(order_id)
        if order is None or order.payment.payment_intent_id != intent_id:
            return "ignored"
        try:
            if amount_received is not None and (
                amount_received != order.amount_cents or (currency or "").lower() != order.currency.lower()
            ):
                return _refund_mismatch(repo, provider, order, amount_received, event_id, now_ms)
            if order.refunded_cents >= order.amount_cents:
                return "ignored"  # refunded in full before the success arrived
            if order.status == PENDING:
                # Even past expires_at the units are still held until the sweeper runs: keep them.
                repo.settle(order, "held", now_ms, event_id)
                return "paid"
            if order.status in (EXPIRED, PAYMENT_FAILED):
                # No pin read: the transaction checks the pin is the order's, active, with units.
                try:
                    repo.settle(order, "reserve", now_ms, event_id)
                    return "paid"
                except (SoldOutError, StaleWriteError):
                    pass
                return _refund_late(repo, provider, order, LATE_PAYMENT, event_id, now_ms)
            if order.status == CANCELLED:
                return _refund_late(repo, provider, order, ORDER_CANCELLED, event_id, now_ms)
            return "ignored"  # already paid / refunded / refund pending
        except DuplicateEventError:
            return "duplicate"
        except IllegalTransitionError:
            continue  # the order moved (e.g. the sweeper expired it): re-read and decide again
    raise UnavailableError("The order is changing too often; retry.")


def apply_payment_failed(
    repo: CheckoutRepository, order_id: str, intent_id: str, event_id: str, now_ms: int
) -> str:
    """Apply ``payment_intent.payment_failed`` / ``.canceled``: a pending order fails and its
    units return (once); any other state is final for this intent and is left alone."""
    for _ in range(RETRIES):
        order = repo.get_order(order_id)
        if order is None or order.payment.payment_intent_id != intent_id or order.status != PENDING:
            return "ignored"
        try:
            release_order(repo, order, PAYMENT_FAILED, now_ms, event_id, assume_active_pin=True)
            return "payment_failed"
        except DuplicateEventError:
            return "duplicate"
        except IllegalTransitionError:
            continue
    raise UnavailableError("The order is changing too often; retry.")


def apply_charge_refunded(
    repo: CheckoutRepository,
    order_id: str,
    intent_id: str,
    charge_id: str,
    amount_refunded: int,
    fully: bool,
    event_id: str,
    now_ms: int,
) -> str:
    """Apply ``charge.refunded`` (our refund, or one made in Stripe's dashboard): the refunded
    total is recorded; refunded in full, a paid order becomes ``refunded``."""
    for _ in range(RETRIES):
        order = repo.get_order(order_id)
        if order is None or order.payment.payment_intent_id != intent_id:
            return "ignored"
        if amount_refunded <= order.refunded_cents:
            return "ignored"  # already recorded (our own refund, or an older event)
        full = fully or amount_refunded >= order.amount_cents
        try:
            repo.record_charge_refund(order, amount_refunded, full, charge_id, now_ms, event_id)
        except DuplicateEventError:
            return "duplicate"
        except IllegalTransitionError:
            continue
        if not full:
            return "partially_refunded"
        return "refunded" if order.status in (PAID, REFUND_PENDING) else "refund_recorded"
    raise UnavailableError("The order is changing too often; retry.")


def apply_dispute_created(
    repo: CheckoutRepository, order_id: str, intent_id: str, event_id: str, now_ms: int
) -> str:
    """Apply ``charge.dispute.created``: the order is flagged ``disputed`` (the seller is told)."""
    order = repo.get_order(order_id)
    if order is None or order.payment.payment_intent_id != intent_id or order.disputed:
        return "ignored"
    try:
        repo.mark_disputed(order, now_ms, event_id)
    except DuplicateEventError:
        return "duplicate"
    except IllegalTransitionError:
        return "ignored"
    return "disputed"
