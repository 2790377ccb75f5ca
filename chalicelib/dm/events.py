"""Event handlers of the dm domain.

The sweeper imports the domain's dal and logic on first use, so ``import app`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.clock import now_ms
from chalicelib.core.observability import logger, record_event

bp = Blueprint(__name__)


@bp.schedule("rate(1 hour)")
def dm_sweep_uploads(event: Any) -> dict[str, int]:
    """Every hour: delete uploads that no sent message attached within 24 hours."""
    from chalicelib.dm.dal import media, uploads
    from chalicelib.dm.uploads import sweep_unsent

    deleted = sweep_unsent(uploads(), media(), now_ms())
    if deleted:
        logger.info("deleted unsent uploads", extra={"count": deleted})
        record_event("upload_expired", deleted)
    return {"deleted": deleted}
