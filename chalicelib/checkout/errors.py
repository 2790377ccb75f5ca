"""Errors of the checkout domain (each maps to one status and code in ``chalicelib.core.web``)."""

from __future__ import annotations

from chalicelib.core.errors import ConflictError, NotFoundError, ValidationError


class SoldOutError(ConflictError):
    """Not enough of this product remains."""

    code = "sold_out"


class LimitExceededError(ConflictError):
    """This order would pass the per-buyer limit of the pin."""

    code = "limit_exceeded"


class StreamEndedError(ConflictError):
    """The stream is not live."""

    code = "stream_ended"


class PinExpiredError(ConflictError):
    """The flash sale of this pin has ended."""

    code = "pin_expired"


class InsufficientStockError(ConflictError):
    """The product does not have that much stock."""

    code = "insufficient_stock"


class AlreadyPinnedError(ConflictError):
    """The product is already pinned on this stream."""

    code = "already_pinned"


class IllegalTransitionError(ConflictError):
    """The order is not in a state that allows this."""


class StaleWriteError(ConflictError):
    """The item changed while we were writing it; the caller re-reads and retries."""


class ProductNotFoundError(NotFoundError):
    """Product not found."""


class PinNotFoundError(NotFoundError):
    """The product is not pinned on this stream."""


class OrderNotFoundError(NotFoundError):
    """Order not found."""


class StreamNotFoundError(NotFoundError):
    """Stream not found."""


class InvalidSignatureError(ValidationError):
    """The webhook signature is missing, malformed, wrong or stale."""

    code = "invalid_signature"


class IdempotencyReplay(Exception):  # noqa: N818 - a control-flow signal, not an error the client sees
    """The Idempotency-Key was already used: ``fingerprint``/``order_id`` of the stored record."""

    def __init__(self, fingerprint: str, order_id: str) -> None:
        super().__init__(order_id)
        self.fingerprint = fingerprint
        self.order_id = order_id


class DuplicateEventError(Exception):
    """The payment event id was already applied."""


class ShardShortError(SoldOutError):
    """The stock shard an order tried lacks the units (``remaining`` as the refusal saw it);
    the order falls over to another shard, so a buyer sees ``sold_out`` only when none can."""

    def __init__(self, remaining: int) -> None:
        super().__init__("This stock shard lacks the units.")
        self.remaining = remaining
