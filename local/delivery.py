"""The retry and failure rules of every event source, from ``infra/delivery.json`` (the deploy
template reads the same file): what the local event pump applies, and the local dead-letter
queue names (``dead_letter_queue.local_name``, e.g. ``notify_publish_outbox-dlq``)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DELIVERY = Path(__file__).resolve().parent.parent / "infra" / "delivery.json"
KINDS = ("dynamodb_stream", "sns_async", "sqs")


@lru_cache(maxsize=4)
def load(path: Path = DELIVERY) -> dict[str, Any]:
    """The whole file."""
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def rules(kind: str, function: str, path: Path = DELIVERY) -> dict[str, Any]:
    """The rules of ``kind`` (``dynamodb_stream``, ``sns_async``, ``sqs``) for ``function``, with
    the per-function overrides of ``functions.<name>`` (flat, or nested under ``kind``) applied."""
    if kind not in KINDS:
        raise ValueError(f"unknown event source kind {kind!r}")
    data = load(path)
    merged = dict(data.get(kind, {}))
    override = data.get("functions", {}).get(function, {})
    nested = override.get(kind)
    merged.update(
        nested if isinstance(nested, dict) else {k: v for k, v in override.items() if k not in KINDS}
    )
    return merged


def dlq_name(function: str, path: Path = DELIVERY) -> str:
    """The local dead-letter queue of ``function`` (SQS queue names allow 80 characters)."""
    template = str(load(path).get("dead_letter_queue", {}).get("local_name", "{function}-dlq"))
    return template.format(function=function)[:80]


def dlq_attributes(path: Path = DELIVERY) -> dict[str, str]:
    """CreateQueue attributes of a dead-letter queue (retention as deployed)."""
    retention = load(path).get("dead_letter_queue", {}).get("MessageRetentionPeriod", 1209600)
    return {"MessageRetentionPeriod": str(int(retention))}
