"""Stream handler of the account domain: the deletion marker's INSERT runs the erasure, an
export item's INSERT builds the archive (issue 20).

A normal ``on_dynamodb_record`` handler (TRIM_HORIZON, its own DLQ when deployed): raising
retries the batch, and both jobs are resumable and idempotent, so a retry finishes the work.
"""

from __future__ import annotations

import time
from typing import Any

from chalice import Blueprint

from chalicelib.core.observability import logger, record_event
from chalicelib.core.settings import TABLE_STREAM_ARN_PLACEHOLDER
from chalicelib.core.streams import change_from_record

bp = Blueprint(__name__)


@bp.on_dynamodb_record(
    stream_arn=TABLE_STREAM_ARN_PLACEHOLDER, batch_size=10, starting_position="TRIM_HORIZON"
)
def account_jobs(event: Any) -> None:
    """Erasures and exports started in this batch (other changes are ignored)."""
    for record in event:
        change = change_from_record(record.to_dict())
        if change.new is None:
            continue
        if change.entity() == "account_deletion" and _starts_erasure(
            change.event_name, change.new, change.old
        ):
            _erase(str(change.new["user_id"]))
        elif change.event_name == "INSERT" and change.entity() == "account_export":
            _export(str(change.new["user_id"]), str(change.new["export_id"]))


def _starts_erasure(event_name: str, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """The marker's INSERT, or an operator's re-drive (``SET redrive_at``, docs/operations.md);
    not the marker's own progress updates."""
    if event_name == "INSERT":
        return True
    return event_name == "MODIFY" and new.get("redrive_at") != (old or {}).get("redrive_at")


def _erase(user_id: str) -> None:
    from chalicelib.account import dal, logic
    from chalicelib.core.clock import now_ms
    from chalicelib.core.deleted import remember_deleted
    from chalicelib.core.settings import get_settings

    remember_deleted(user_id)
    started = time.perf_counter()
    ran = logic.erase(
        dal.store(),
        dal.erasure(),
        user_id,
        secret=get_settings().phone_hash_secret,
        now_ms=now_ms,
        sleep=time.sleep,
    )
    if ran:
        record_event("account_erased")
        logger.info(
            "account erased",
            extra={"steps": ran, "duration_ms": round((time.perf_counter() - started) * 1000)},
        )


def _export(user_id: str, export_id: str) -> None:
    from chalicelib.account import dal, logic
    from chalicelib.core.clock import now_ms

    if logic.run_export(dal.store(), dal.export_reader(), dal.archives(), user_id, export_id, now_ms()):
        record_event("account_exported")
