"""Account deletion and data export (issue 20): plain Python over the ports.

The erasure is a fixed list of steps, each idempotent (it re-reads what is left and changes
only that). The marker records finished steps, so a crash resumes at the step it was in, and a
replay of a finished erasure does nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from chalicelib.account.ports import (
    DONE,
    PENDING,
    READY,
    AccountStore,
    ArchiveStore,
    Deletion,
    Erasure,
    Export,
    ExportReader,
)
from chalicelib.core.clock import iso_from_ms
from chalicelib.core.errors import NotFoundError, RateLimitedError

# Other containers may trust a "not deleted" answer for up to 30 s (chalicelib.core.deleted): the
# erasure runs at once, then sweeps every step again once that window has passed, so a request
# let through in the window is erased too.
SWEEP_DELAY_MS = 31_000
EXPORT_INTERVAL_MS = 24 * 3600 * 1000
DOWNLOAD_URL_SECONDS = 24 * 3600
ARCHIVE_RETENTION_DAYS = 7

STEPS: tuple[str, ...] = (
    "connections",
    "devices",
    "graph",
    "phone",
    "messages",
    "attachments",
    "conversations",
    "live_chat",
    "streams",
    "products",
    "orders",
    "partition",
)


class ExportNotFoundError(NotFoundError):
    """No such export."""

    code = "not_found"


def pseudonym(secret: str, user_id: str) -> str:
    """The stable pseudonym that replaces a deleted user's id on kept records (paid orders)."""
    digest = hmac.new(secret.encode(), f"account:{user_id}".encode(), hashlib.sha256).hexdigest()
    return f"deleted-{digest[:24]}"


def request_deletion(store: AccountStore, user_id: str, deletion_id: str, now_ms: int) -> dict[str, str]:
    """Record the deletion marker (a repeat returns the first one's id)."""
    stored = store.create_deletion(
        Deletion(user_id=user_id, deletion_id=deletion_id, status=PENDING, requested_at_ms=now_ms)
    )
    return {"deletion_id": stored.deletion_id, "status": PENDING if stored.status != DONE else DONE}


def erase(
    store: AccountStore,
    erasure: Erasure,
    user_id: str,
    *,
    secret: str,
    now_ms: Callable[[], int],
    sleep: Callable[[float], None],
) -> list[str]:
    """Run the erasure's remaining steps; returns the steps run now (empty: nothing to do)."""
    deletion = store.deletion(user_id)
    if deletion is None or deletion.swept:
        return []
    ran: list[str] = []
    if deletion.status != DONE:
        for step in STEPS:
            if step in deletion.done_steps:
                continue
            _run_step(step, erasure, user_id, secret, now_ms())
            store.mark_step(user_id, step)
            ran.append(step)
        store.finish_deletion(user_id, now_ms())
    wait_ms = deletion.requested_at_ms + SWEEP_DELAY_MS - now_ms()
    if wait_ms > 0:
        sleep(wait_ms / 1000)
    for step in STEPS:  # the sweep: every step is idempotent, so this only finds stragglers
        _run_step(step, erasure, user_id, secret, now_ms())
    store.mark_swept(user_id, now_ms())
    ran.append("sweep")
    return ran


def _run_step(step: str, erasure: Erasure, user_id: str, secret: str, now: int) -> None:
    if step == "connections":
        erasure.close_connections(user_id)
    elif step == "devices":
        erasure.remove_devices(user_id)
    elif step == "graph":
        edges = erasure.graph_edges(user_id)
        for other in edges.get("following", []):
            erasure.unfollow(user_id, other)
        for other in edges.get("followers", []):
            erasure.unfollow(other, user_id)
        for other in edges.get("blocks", []):
            erasure.unblock(user_id, other)
        for other in edges.get("blocked_by", []):
            erasure.unblock(other, user_id)
    elif step == "phone":
        erasure.clear_phone(user_id)
    elif step == "messages":
        for cid in erasure.conversations_of(user_id):
            erasure.tombstone_messages(cid, user_id, now)
    elif step == "attachments":
        erasure.delete_attachments(user_id)
    elif step == "conversations":
        for cid in erasure.conversations_of(user_id):
            erasure.leave_conversation(cid, user_id)
    elif step == "live_chat":
        erasure.erase_live_chat(user_id, now)
    elif step == "streams":
        erasure.end_hosted_streams(user_id, now)
    elif step == "products":
        erasure.unlist_products(user_id, now)
    elif step == "orders":
        erasure.settle_orders(user_id, pseudonym(secret, user_id), now)
    elif step == "partition":
        erasure.erase_partition(user_id)
    else:  # pragma: no cover - STEPS is closed
        raise ValueError(step)


# --- export -------------------------------------------------------------------------------


def request_export(store: AccountStore, user_id: str, export_id: str, now_ms: int) -> dict[str, str]:
    """Start an export; at most one per user per 24 h (429 with the seconds to wait)."""
    previous = store.create_export(
        Export(user_id=user_id, export_id=export_id, status=PENDING, requested_at_ms=now_ms),
        not_before_ms=now_ms - EXPORT_INTERVAL_MS,
    )
    if previous is not None:
        retry_after = (previous + EXPORT_INTERVAL_MS - now_ms + 999) // 1000
        raise RateLimitedError("One data export per 24 hours.", retry_after=retry_after)
    return {"export_id": export_id, "status": PENDING}


def export_status(
    store: AccountStore, archives: ArchiveStore, user_id: str, export_id: str
) -> dict[str, Any]:
    """The owner's view of an export (anyone else's id → 404: the key is the owner's)."""
    export = store.export(user_id, export_id)
    if export is None:
        raise ExportNotFoundError("Export not found.")
    view: dict[str, Any] = {"export_id": export.export_id, "status": export.status}
    if export.status == READY and export.archive_key and export.ready_at_ms is not None:
        view["download_url"] = archives.url(export.archive_key, DOWNLOAD_URL_SECONDS)
        view["expires_at"] = iso_from_ms(export.ready_at_ms + ARCHIVE_RETENTION_DAYS * 24 * 3600 * 1000)
    return view


def archive_key(user_id: str, export_id: str) -> str:
    """Where an archive lives: under the user's prefix of ``exports/``."""
    return f"exports/{user_id}/{export_id}.zip"


def build_archive(reader: ExportReader, user_id: str) -> bytes:
    """The zip: one JSON file per kind of data, attachments as files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, document in reader.collect(user_id).items():
            archive.writestr(f"{name}.json", json.dumps(document, indent=2, sort_keys=True, default=str))
        for name, content in reader.attachments(user_id):
            archive.writestr(f"attachments/{name}", content)
    return buffer.getvalue()


def run_export(
    store: AccountStore,
    reader: ExportReader,
    archives: ArchiveStore,
    user_id: str,
    export_id: str,
    now_ms: int,
) -> bool:
    """Build and store one archive; False when it was ready already (a replay)."""
    export = store.export(user_id, export_id)
    if export is None or export.status == READY:
        return False
    key = archive_key(user_id, export_id)
    archives.put(key, build_archive(reader, user_id))
    store.export_ready(user_id, export_id, key, now_ms)
    return True
