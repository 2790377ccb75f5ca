"""Read-model projectors: one stream consumer per read model.

Each read model has its own Lambda on the table's stream, with its own checkpoint, retries,
bisection, dead-letter queue and alarms (``infra/package.py``, ``infra/delivery.json``): a
projector that fails on a record retries and parks only its own work, so the inbox never waits
for the live snapshot and vice versa. The functions are named ``project_<read model>``.

Every projector is idempotent (Lambda replays a failed batch, and bisection replays halves of
it): the inbox writes are conditional on watermarks, snapshots are rebuilt from the table, and
interactions only move forward in time.

A projector raises on failure (no partial batch report): Lambda then bisects the batch until a
poison record is alone, retries it ``MaximumRetryAttempts`` times and sends it to the function's
on-failure queue, and the records after it flow on.

Cost (issue 16): every consumer of a DynamoDB stream polls each shard. AWS recommends at most
two concurrent readers per shard for a single-Region table; with the outbox publisher this
stream has four, so Lambda's GetRecords calls may be throttled (Lambda backs off and retries:
higher ``IteratorAge`` under load, no loss). The iterator-age alarms watch it; see
docs/operations.md ("Parked events and stream lag").

The domains' projections (pydantic, boto3) are imported on the first batch, so ``import app``
stays cheap (cold start).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Blueprint

from chalicelib.core.observability import logger
from chalicelib.core.settings import TABLE_STREAM_ARN_PLACEHOLDER
from chalicelib.core.streams import StreamChange, change_from_record

bp = Blueprint(__name__)

Projector = Callable[[list[StreamChange]], None]


def _changes(event: Any) -> list[StreamChange]:
    return [change_from_record(record.to_dict()) for record in event]


def _project(name: str, projector: Projector, event: Any) -> None:
    changes = _changes(event)
    projector(changes)
    logger.debug("projected", extra={"projector": name, "changes": len(changes)})


@bp.on_dynamodb_record(
    stream_arn=TABLE_STREAM_ARN_PLACEHOLDER, batch_size=100, starting_position="TRIM_HORIZON"
)
def project_inbox(event: Any) -> None:
    """DM inbox items and unread counts (``chalicelib.dm.projections``); raising retries the batch."""
    from chalicelib.dm import projections

    _project("inbox", projections.apply, event)


@bp.on_dynamodb_record(
    stream_arn=TABLE_STREAM_ARN_PLACEHOLDER, batch_size=100, starting_position="TRIM_HORIZON"
)
def project_live_snapshots(event: Any) -> None:
    """Live-chat room snapshots in S3 (``chalicelib.live.projections``); raising retries the batch."""
    from chalicelib.live import projections

    _project("live_snapshots", projections.apply, event)


@bp.on_dynamodb_record(
    stream_arn=TABLE_STREAM_ARN_PLACEHOLDER, batch_size=100, starting_position="TRIM_HORIZON"
)
def project_share_interactions(event: Any) -> None:
    """Share suggestions' interactions from direct messages (``chalicelib.share.projections``)."""
    from chalicelib.share import projections

    _project("share_interactions", projections.apply, event)
