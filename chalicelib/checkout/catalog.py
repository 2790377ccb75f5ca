"""Products and pins: plain logic over a :class:`CheckoutRepository`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chalicelib.checkout import stock_shards
from chalicelib.checkout.errors import (
    PinNotFoundError,
    ProductNotFoundError,
    StaleWriteError,
    StreamEndedError,
    StreamNotFoundError,
)
from chalicelib.checkout.models import (
    CLOSED_STREAM_ENDED,
    PIN_ACTIVE,
    Pin,
    PinCreate,
    Product,
    ProductCreate,
    ProductPatch,
    StockShard,
)
from chalicelib.checkout.ports import CheckoutRepository
from chalicelib.checkout.views import pin_view, product_view
from chalicelib.core.clock import iso_from_ms
from chalicelib.core.errors import ConflictError, ForbiddenError, UnavailableError
from chalicelib.core.ids import new_ulid
from chalicelib.live.chat import pinned_product_message

RETRIES = 5


def create_product(
    repo: CheckoutRepository,
    seller_id: str,
    body: ProductCreate,
    now_ms: int,
    new_id: Callable[[], str] = new_ulid,
) -> dict[str, Any]:
    """Create a product owned by the caller."""
    now = iso_from_ms(now_ms)
    product = Product(
        product_id=new_id(),
        seller_id=seller_id,
        title=body.title,
        price_cents=body.price_cents,
        currency=body.currency,
        stock=body.stock,
        created_at=now,
        updated_at=now,
    )
    repo.create_product(product)
    return product_view(product)


def get_product(repo: CheckoutRepository, product_id: str) -> dict[str, Any]:
    """Any signed-in user may see a product (it is shown in streams)."""
    product = repo.get_product(product_id)
    if product is None:
        raise ProductNotFoundError("Product not found.")
    return product_view(product)


def patch_product(
    repo: CheckoutRepository, caller: str, product_id: str, body: ProductPatch, now_ms: int
) -> dict[str, Any]:
    """Seller-only update of title/price/stock (optimistic on the product's version, so a
    concurrent pin carving stock out is never overwritten)."""
    for _ in range(RETRIES):
        product = repo.get_product(product_id)
        if product is None:
            raise ProductNotFoundError("Product not found.")
        if product.seller_id != caller:
            raise ForbiddenError("Only the seller may change this product.")
        changed = replace(
            product,
            title=body.title if body.title is not None else product.title,
            price_cents=body.price_cents if body.price_cents is not None else product.price_cents,
            stock=body.stock if body.stock is not None else product.stock,
            updated_at=iso_from_ms(now_ms),
            version=product.version + 1,
        )
        try:
            repo.save_product(changed, expected_version=product.version)
        except StaleWriteError:
            continue
        return product_view(changed)
    raise UnavailableError("The product is changing too often; retry.")


def create_pin(
    repo: CheckoutRepository,
    caller: str,
    stream_id: str,
    body: PinCreate,
    now_ms: int,
    new_id: Callable[[], str] = new_ulid,
) -> dict[str, Any]:
    """Pin a product on the caller's live stream, carving its flash stock out of the product."""
    stream, product = repo.get_stream_and_product(stream_id, body.product_id)
    if stream is None:
        raise StreamNotFoundError("Stream not found.")
    if stream.host_id != caller:
        raise ForbiddenError("Only the stream's host may pin products.")
    if product is None:
        raise ProductNotFoundError("Product not found.")
    if product.seller_id != caller:
        raise ForbiddenError("The host may only pin their own products.")
    if stream.status != "live":
        raise StreamEndedError("The stream has ended.")
    flash_stock = body.flash_stock if body.flash_stock is not None else product.stock
    if flash_stock < 1:
        raise ConflictError("The product has no stock to pin.", code="insufficient_stock")
    peak = body.expected_peak_orders_per_second
    shards = stock_shards.shard_count(flash_stock, peak)
    pin_id = new_id()
    pin = Pin(
        stream_id=stream_id,
        product_id=product.product_id,
        pin_id=pin_id,
        seller_id=product.seller_id,
        title=product.title,
        price_cents=product.price_cents,
        currency=product.currency,
        per_user_limit=body.per_user_limit,
        pinned=flash_stock,
        remaining=flash_stock,
        flash_price_cents=body.flash_price_cents,
        ends_at_ms=now_ms + body.duration_seconds * 1000 if body.duration_seconds else None,
        created_at=iso_from_ms(now_ms),
        shards=shards,
        expected_peak_orders_per_second=peak,
    )
    stock = [
        StockShard(shard=k, pin_id=pin_id, units=n, remaining=n)
        for k, n in enumerate(stock_shards.split(flash_stock, shards))
    ]
    view = pin_view(pin)
    message_id = new_id()
    message = pinned_product_message(
        stream_id,
        stream.host_id,
        message_id,
        {
            "product_id": pin.product_id,
            "title": pin.title,
            "price_cents": pin.unit_price_cents,
            "currency": pin.currency,
            "remaining": pin.remaining,
            "ends_at": view["ends_at"],
        },
        now_ms,
    )
    repo.create_pin(pin, stock, message)
    return view


def unpin(repo: CheckoutRepository, caller: str, stream_id: str, product_id: str, now_ms: int) -> None:
    """Host-only: end a pin and return its unsold units to the product (held units follow when
    their orders expire or fail)."""
    stream = repo.get_stream(stream_id)
    if stream is None:
        raise StreamNotFoundError("Stream not found.")
    if stream.host_id != caller:
        raise ForbiddenError("Only the stream's host may unpin products.")
    if not _unpin_active(repo, stream_id, product_id, now_ms):
        raise PinNotFoundError("The product is not pinned on this stream.")


def close_stream_sales(repo: CheckoutRepository, stream_id: str, now_ms: int) -> int:
    """The stream has ended: unpin every active pin of it as the host's unpin does (unsold units
    back to the product; held ones follow when their orders are released), marking the shards
    and the pins ``closed_reason = stream_ended``, so the stock shards themselves refuse orders
    (an order never reads or checks the stream item). No host check: live's end route made it.

    Idempotent, so a retried end heals a crash between ending and closing: pins the end
    already closed are read again and any units an interrupted unpin left in their shards are
    drained; pins the host unpinned are skipped. Costs ONE consistent Query of the stream's pins
    + per active pin the unpin's GetItem, BatchGetItem, freeze TransactWriteItems, BatchGetItem
    and drain TransactWriteItems (no drain when nothing is left). Returns how many pins this
    call closed."""
    closed = 0
    for pin in repo.stream_pins(stream_id):
        if pin.status == PIN_ACTIVE or pin.closed_reason == CLOSED_STREAM_ENDED:
            closed += _unpin_active(
                repo, stream_id, pin.product_id, now_ms, closed_reason=CLOSED_STREAM_ENDED
            )
    return closed


def _unpin_active(
    repo: CheckoutRepository, stream_id: str, product_id: str, now_ms: int, closed_reason: str | None = None
) -> bool:
    """Unpin the product's pin if it is active (False when there is none, or it is not active),
    re-reading the pin and its shards whenever one changed between the read and the write."""
    for _ in range(RETRIES):
        found = repo.get_pin_stock(stream_id, product_id)
        if found is None:
            return False
        pin, shards = found
        if pin.status != PIN_ACTIVE:
            try:
                repo.drain(pin, shards, now_ms)  # heals an unpin interrupted before its drain
            except StaleWriteError:
                continue
            return False
        try:
            repo.unpin(pin, shards, now_ms, closed_reason=closed_reason)
            return True
        except StaleWriteError:
            continue  # a buyer took or returned units meanwhile: re-read the shards
    raise UnavailableError("The pin is changing too often; retry.")


def active_pins(pins: list[Pin], now_ms: int) -> list[dict[str, Any]]:
    """Pins a viewer can buy from right now."""
    return [pin_view(p) for p in pins if p.status == PIN_ACTIVE and not p.ended(now_ms)]
