"""DynamoDB stream records as plain Python (the event handlers' input)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.core.ddb import Item, deserialize


@dataclass(frozen=True)
class StreamChange:
    """One committed change to the table, as delivered by the stream."""

    event_id: str
    event_name: str  # INSERT | MODIFY | REMOVE
    sequence_number: str
    keys: Item
    new: Item | None
    old: Item | None
    approximate_ms: int

    @property
    def item(self) -> Item:
        """The newest image available (``new`` for INSERT/MODIFY, ``old`` for REMOVE)."""
        return self.new or self.old or {}

    def entity(self) -> str:
        """The ``entity`` attribute every item carries (``message``, ``order``...)."""
        return str(self.item.get("entity", ""))


def change_from_record(record: Mapping[str, Any]) -> StreamChange:
    """Build a :class:`StreamChange` from one Lambda-shaped DynamoDB stream record."""
    ddb = record.get("dynamodb", {})
    created = ddb.get("ApproximateCreationDateTime", 0)
    if isinstance(created, datetime):  # boto3's get_records parses it; Lambda sends epoch seconds
        created = created.timestamp()
    return StreamChange(
        event_id=str(record.get("eventID", "")),
        event_name=str(record.get("eventName", "")),
        sequence_number=str(ddb.get("SequenceNumber", "")),
        keys=deserialize(ddb.get("Keys")) or {},
        new=deserialize(ddb.get("NewImage")),
        old=deserialize(ddb.get("OldImage")),
        approximate_ms=int(float(created) * 1000),
    )
