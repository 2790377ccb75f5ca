"""Event handlers of the checkout domain.

The sweeper imports the domain's dal and logic on first use, so ``import app`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.clock import now_ms
from chalicelib.core.observability import logger, record_event

bp = Blueprint(__name__)


@bp.schedule("rate(1 minute)")
def checkout_expire_orders(event: Any) -> dict[str, int]:
    """Every minute: expire unpaid orders whose 10-minute hold ended (however long ago), return
    their units, cancel their payment intents, and retry automatic refunds that failed."""
    from chalicelib.checkout.dal import repository
    from chalicelib.checkout.orders import retry_refunds, sweep_expired
    from chalicelib.checkout.payments import provider_from_settings
    from chalicelib.core.settings import get_settings

    repo, provider, now = repository(), provider_from_settings(get_settings()), now_ms()
    expired = sweep_expired(repo, now, provider)
    refunded = retry_refunds(repo, provider, now)
    if expired:
        logger.info("expired orders", extra={"count": expired})
        record_event("order_expired", expired)
    if refunded:
        logger.info("automatic refunds retried", extra={"count": refunded})
        record_event("order_refunded_late", refunded)
    return {"expired": expired, "refunded": refunded}
