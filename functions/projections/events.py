"""One stream consumer for every read model.

DynamoDB Streams serves at most two concurrent readers per shard without throttling, so the
table has exactly two consumers: the outbox publisher (``functions.notify.events``) and this
projector, which hands each batch to every domain's ``projections.apply``.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from functions.core.observability import logger
from functions.core.settings import TABLE_STREAM_ARN_PLACEHOLDER
from functions.core.streams import change_from_record
from functions.dm import projections as dm_projections
from functions.live import projections as live_projections
from functions.share import projections as share_projections

bp = Blueprint(__name__)

PROJECTORS = (dm_projections.apply, live_projections.apply, share_projections.apply)


@bp.on_dynamodb_record(
    stream_arn=TABLE_STREAM_ARN_PLACEHOLDER, batch_size=100, starting_position="TRIM_HORIZON"
)
def project_changes(event: Any) -> None:
    """Apply a batch of table changes to every read model (raising retries the batch)."""
    changes = [change_from_record(record.to_dict()) for record in event]
    for projector in PROJECTORS:
        projector(changes)
    logger.debug("projected", extra={"changes": len(changes)})
