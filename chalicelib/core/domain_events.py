"""Domain events published from the table's stream (the outbox) to the events topic."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from chalicelib.core.streams import StreamChange


class DomainEvent(BaseModel):
    """One event on the ``-events`` SNS topic.

    ``event_id`` is derived from the stream change, so a replayed record yields the same id and
    consumers can deduplicate.
    """

    event_id: str
    type: str
    occurred_at: str
    actor_id: str | None = None
    recipient_ids: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)


def stable_event_id(event_type: str, *parts: str) -> str:
    """A deterministic id for an event derived from a change (e.g. type + item key + sequence)."""
    digest = hashlib.sha256("|".join((event_type, *parts)).encode()).hexdigest()
    return f"evt_{digest[:32]}"


def event_from_change(
    change: StreamChange,
    event_type: str,
    data: Mapping[str, Any] | None = None,
    *,
    occurred_at: str,
    actor: str | None = None,
    recipients: Iterable[str] = (),
) -> DomainEvent:
    """The one way an outbox mapper turns a stream change into a :class:`DomainEvent`: its id is
    derived from the event type, the item's key and the change's sequence number, so a replayed
    stream record yields the same id."""
    pk, sk = str(change.keys.get("pk", "")), str(change.keys.get("sk", ""))
    return DomainEvent(
        event_id=stable_event_id(event_type, pk, sk, change.sequence_number),
        type=event_type,
        occurred_at=occurred_at,
        actor_id=actor,
        recipient_ids=list(recipients),
        data=dict(data or {}),
    )


# A message on the events topic whose body was too big for SNS carries this key instead of
# ``data``: ``{"bucket", "key", "bytes"}`` of the stored event (see docs/realtime.md).
CLAIM_CHECK = "claim_check"


def parse_event_message(message: str, fetch: Callable[[str, str], bytes]) -> DomainEvent:
    """An events-topic message → its :class:`DomainEvent`, reading a claim-checked body with
    ``fetch(bucket, key)``. Raises ``ValueError`` (pydantic's ``ValidationError`` is one) when
    the message is not an event."""
    data = json.loads(message)
    if isinstance(data, dict) and isinstance(data.get(CLAIM_CHECK), dict):
        check = data[CLAIM_CHECK]
        event = DomainEvent.model_validate_json(fetch(str(check["bucket"]), str(check["key"])))
        if event.event_id != data.get("event_id"):
            raise ValueError("the claim-checked body belongs to another event")
        return event
    return DomainEvent.model_validate(data)
