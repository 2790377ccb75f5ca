"""Attachment uploads: the daily per-user quota, and what happens to uploads nobody sent.

Each presigned upload is recorded with the quota charge in ONE transaction; the record sits in
a GSI2 "due" bucket (the hour its 24 hours are up) until a sent message attaches it (in the
send's own transaction, so the DM path makes no extra call). The hourly sweeper deletes the
objects of records still pending once due. Unsending a message deletes its attachment's object
from the stream projection (off the request path).
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.core.clock import iso_from_ms
from chalicelib.dm.errors import AttachmentInvalidError, AttachmentTooLargeError, UploadRateLimitedError
from chalicelib.dm.logic import ATTACHMENT_TYPES, Clock, Media
from chalicelib.dm.models import CreateAttachment
from chalicelib.dm.ports import UploadStore
from chalicelib.dm.records import Item

UPLOAD_EXPIRES_SECONDS = 300
UPLOADS_PER_DAY = 200
UPLOAD_BYTES_PER_DAY = 2 * 1024**3  # 2 GiB
PENDING_SECONDS = 24 * 3600  # an upload not attached to a sent message within this is deleted
HOUR_MS = 3_600_000
SWEEP_LOOKBACK_HOURS = 6  # due buckets re-read by every run (survives a few missed runs)
DAY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class PendingUpload:
    """An upload still waiting for a message."""

    owner_id: str
    attachment_id: str


def due_hour_of(created_ms: int) -> int:
    """The epoch hour by the end of which an upload made at ``created_ms`` is past 24 hours."""
    return (created_ms + PENDING_SECONDS * 1000) // HOUR_MS + 1


def create_attachment(
    media: Media, uploads: UploadStore, clock: Clock, caller: str, req: CreateAttachment
) -> Item:
    """``POST /v1/attachments``: a presigned POST under the caller's prefix (1 TransactWriteItems:
    quota + pending record; signing is local). 200 uploads and 2 GiB a day → 429."""
    limit = ATTACHMENT_TYPES.get(req.content_type)
    if limit is None:
        raise AttachmentInvalidError(f"content_type must be one of {', '.join(sorted(ATTACHMENT_TYPES))}.")
    if req.size_bytes > limit:
        raise AttachmentTooLargeError(f"{req.content_type} attachments are limited to {limit} bytes.")
    now = clock.now_ms()
    attachment_id = clock.new_id(now)
    day = now // 1000 // DAY_SECONDS
    if not uploads.record(
        caller,
        attachment_id,
        req.size_bytes,
        day=day,
        max_uploads=UPLOADS_PER_DAY,
        max_bytes=UPLOAD_BYTES_PER_DAY,
        due_hour=due_hour_of(now),
        now_ms=now,
    ):
        raise UploadRateLimitedError(
            "At most 200 uploads and 2 GB a day; try again tomorrow.",
            retry_after=(day + 1) * DAY_SECONDS - now // 1000,
        )
    upload = media.presign_upload(
        caller, attachment_id, req.content_type, req.size_bytes, UPLOAD_EXPIRES_SECONDS
    )
    return {
        "attachment_id": attachment_id,
        "upload": upload,
        "expires_at": iso_from_ms(now + UPLOAD_EXPIRES_SECONDS * 1000),
    }


def sweep_unsent(uploads: UploadStore, media: Media, now_ms: int) -> int:
    """Delete the objects of uploads that no sent message attached within 24 hours; returns how
    many. The record is dropped first (conditional on still pending), so an upload a message
    attaches at the same moment is never deleted."""
    current = now_ms // HOUR_MS
    deleted = 0
    for hour in range(current - SWEEP_LOOKBACK_HOURS, current + 1):
        for upload in uploads.due(hour):
            if uploads.forget(upload):
                media.delete(upload.owner_id, upload.attachment_id)
                deleted += 1
    return deleted
