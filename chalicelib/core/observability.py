"""Powertools Logger (JSON) and Metrics (EMF), shared by every handler.

Tracer is deliberately not imported: it pulls in the X-Ray SDK (~130 ms of cold start).
"""

from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit

SERVICE = "socialvideo"
NAMESPACE = "SocialVideo"

logger = Logger(service=SERVICE)


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    """The process-wide metrics buffer (flushed at the end of each invocation by
    ``chalicelib.core.middleware``, the only place that flushes it)."""
    return Metrics(namespace=NAMESPACE, service=SERVICE)


def record_event(name: str, value: float = 1) -> None:
    """Count one business event (``message_sent``, ``order_placed``...)."""
    metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)
