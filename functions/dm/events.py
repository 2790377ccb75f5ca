"""Event handlers of the dm domain.

The sweeper imports the domain's dal and logic on first use, so ``import app`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from functions.core.clock import now_ms
from functions.core.observability import logger, record_event

bp = Blueprint(__name__)


@bp.schedule("rate(1 hour)")
def dm_sweep_uploads(event: Any) -> dict[str, int]:
    """Every hour: delete uploads that no sent message attached within 24 hours."""
    from functions.dm.dal import media, uploads
    from functions.dm.uploads import sweep_unsent

    deleted = sweep_unsent(uploads(), media(), now_ms())
    if deleted:
        logger.info("deleted unsent uploads", extra={"count": deleted})
        record_event("upload_expired", deleted)
    return {"deleted": deleted}
