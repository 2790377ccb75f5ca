"""Event handlers of the share domain: the video projection fed by the video platform.

The handler imports the domain's dal and logic on first use, so ``import app`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.observability import logger, record_event
from chalicelib.core.settings import VIDEO_EVENTS_TOPIC_NAME

bp = Blueprint(__name__)


@bp.on_sns_message(topic=VIDEO_EVENTS_TOPIC_NAME)
def share_video_events(event: Any) -> None:
    """Apply one video event; malformed ones are logged and dropped (never retried forever)."""
    from chalicelib.core.clock import now_ms
    from chalicelib.share import dal
    from chalicelib.share.videos import apply_video_event

    outcome = apply_video_event(dal.videos(), event.message, now_ms())
    if outcome == "dropped":
        logger.warning("malformed video event dropped", extra={"body": str(event.message)[:500]})
    else:
        logger.info("video event", extra={"outcome": outcome})
        record_event(f"video_event_{outcome}")
