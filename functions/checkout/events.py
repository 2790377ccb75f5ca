"""Event handlers of the checkout domain.

The sweeper imports the domain's dal and logic on first use, so ``import app`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from functions.core.clock import now_ms
from functions.core.observability import flush_metrics, logger, record_event

bp = Blueprint(__name__)


@bp.schedule("rate(1 minute)")
def checkout_expire_orders(event: Any) -> dict[str, int]:
    """Every minute: expire unpaid orders whose 10-minute hold ended and return their units."""
    from functions.checkout.dal import repository
    from functions.checkout.orders import sweep_expired

    expired = sweep_expired(repository(), now_ms())
    if expired:
        logger.info("expired orders", extra={"count": expired})
        record_event("order_expired", expired)
    flush_metrics()
    return {"expired": expired}
