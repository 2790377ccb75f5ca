"""Consumers' side of the events topic's claim check: resolve a message to its event.

An event too big for SNS (256 KiB) is stored in the media bucket under ``EVENT_BODY_PREFIX`` and
published as a pointer (``chalicelib.notify.publishing``). Every consumer of the events topic
calls :func:`event_from_message`, so a claim-checked event is as transparent as an inline one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.core import clients

if TYPE_CHECKING:
    from chalicelib.core.domain_events import DomainEvent

# Stored event bodies live under this prefix of the media bucket (a lifecycle rule may expire
# them after the stream's and the dead-letter queues' retention, 14 days).
EVENT_BODY_PREFIX = "events/"


class EventBodyGoneError(LookupError):
    """The stored body of a claim-checked event no longer exists (it expired)."""


def fetch_body(bucket: str, key: str) -> bytes:
    """GetObject of a stored event body; a missing object is :class:`EventBodyGoneError`
    (other errors propagate, so the delivery is retried)."""
    from botocore.exceptions import ClientError

    try:
        out = clients.s3().get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            raise EventBodyGoneError(key) from err
        raise
    body: bytes = out["Body"].read()
    return body


def event_from_message(message: str) -> DomainEvent:
    """The event an events-topic message carries (inline or claim-checked: one GetObject)."""
    from chalicelib.core.domain_events import parse_event_message

    return parse_event_message(message, fetch_body)
