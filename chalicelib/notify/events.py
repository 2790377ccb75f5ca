"""Event handlers of the notify domain: the outbox publisher and the push subscriber.

The handlers import the domains' outbox mappers, dal and push logic (pydantic, boto3) on first
use, so ``import app`` stays cheap (cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.core.observability import logger, record_event
from chalicelib.core.settings import EVENTS_TOPIC_NAME, TABLE_STREAM_ARN_PLACEHOLDER
from chalicelib.core.streams import change_from_record

if TYPE_CHECKING:
    from chalicelib.notify.publisher import Mapper

bp = Blueprint(__name__)

# Every domain's outbox mapper: None means the default set (``default_mappers()``, imported on
# first use). Looked up at call time so tests may swap in their own tuple.
MAPPERS: tuple[Mapper, ...] | None = None


def default_mappers() -> tuple[Mapper, ...]:
    """Every domain's outbox mapper, as the composition root (app.py) wired them."""
    from chalicelib.notify.wiring import mappers

    return mappers()


# Throttling and SNS outages are retried inside the invocation up to this long (and within the
# function's remaining time less a margin), so a short outage does not use up the stream's
# bounded retries (infra/delivery.json).
MAX_RETRY_WINDOW_S = 20.0
RETRY_MARGIN_S = 5.0


def retry_window(event: Any) -> float:
    """Seconds the publisher may spend retrying throttling/5xx in this invocation."""
    context = getattr(event, "context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return 0.0
    return max(0.0, min(MAX_RETRY_WINDOW_S, remaining() / 1000 - RETRY_MARGIN_S))


@bp.on_dynamodb_record(
    stream_arn=TABLE_STREAM_ARN_PLACEHOLDER, batch_size=100, starting_position="TRIM_HORIZON"
)
def notify_publish_outbox(event: Any) -> dict[str, list[dict[str, str]]]:
    """Publish the domain events of committed changes; report partial failures so the stream
    retries from the first record that did not make it (``ReportBatchItemFailures``)."""
    from chalicelib.notify import dal
    from chalicelib.notify.publisher import publish_changes

    changes = [change_from_record(record.to_dict()) for record in event]
    mappers = MAPPERS if MAPPERS is not None else default_mappers()
    result = publish_changes(changes, mappers, dal.event_publisher(), retry_window(event))
    if result.published:
        record_event("events_published", result.published)
    if result.failed_sequence_number is not None:
        # The "failed event publishes" alarm watches this metric.
        record_event("events_publish_failed")
    return result.batch_item_failures()


@bp.on_sns_message(topic=EVENTS_TOPIC_NAME)
def notify_push_event(event: Any) -> None:
    """Send the mobile pushes a domain event implies (other event types are ignored)."""
    from pydantic import ValidationError as PydanticValidationError

    from chalicelib.core.clock import now_ms
    from chalicelib.core.event_bodies import EventBodyGoneError, event_from_message
    from chalicelib.notify import dal
    from chalicelib.notify.push import deliver_event

    try:
        domain_event = event_from_message(event.message)
    except (PydanticValidationError, ValueError, KeyError, TypeError, EventBodyGoneError):
        # A malformed message will never parse: drop it rather than retry forever.
        logger.warning("malformed domain event dropped", extra={"sns_message": event.message[:500]})
        return
    outcome = deliver_event(domain_event, dal.push_services(), now_ms())
    if outcome.sent:
        record_event("push_sent", outcome.sent)
    logger.debug(
        "push delivered",
        extra={"event_id": domain_event.event_id, "sent": outcome.sent, "failed": outcome.failed},
    )
