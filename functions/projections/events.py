"""One stream consumer for every read model.

DynamoDB Streams serves at most two concurrent readers per shard without throttling, so the
table has exactly two consumers: the outbox publisher (``functions.notify.events``) and this
projector, which hands each batch to every domain's ``projections.apply``.

The domains' projections (pydantic, boto3) are imported on the first batch, so ``import app``
stays cheap (cold start).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Blueprint

from functions.core.observability import logger
from functions.core.settings import TABLE_STREAM_ARN_PLACEHOLDER
from functions.core.streams import StreamChange, change_from_record

bp = Blueprint(__name__)

Projector = Callable[[list[StreamChange]], None]

# Every read model's projector: None means the default set (``default_projectors()``, imported
# on first use). Looked up at call time so tests may swap in their own tuple.
PROJECTORS: tuple[Projector, ...] | None = None


def default_projectors() -> tuple[Projector, ...]:
    """The dm, live and share projections."""
    from functions.dm import projections as dm_projections
    from functions.live import projections as live_projections
    from functions.share import projections as share_projections

    return (dm_projections.apply, live_projections.apply, share_projections.apply)


@bp.on_dynamodb_record(
    stream_arn=TABLE_STREAM_ARN_PLACEHOLDER, batch_size=100, starting_position="TRIM_HORIZON"
)
def project_changes(event: Any) -> None:
    """Apply a batch of table changes to every read model (raising retries the batch)."""
    changes = [change_from_record(record.to_dict()) for record in event]
    for projector in PROJECTORS if PROJECTORS is not None else default_projectors():
        projector(changes)
    logger.debug("projected", extra={"changes": len(changes)})
