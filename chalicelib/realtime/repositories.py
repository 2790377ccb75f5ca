"""The realtime domain's public repository factories: what another domain (e.g. account's erasure)
may use to run realtime's own logic on realtime's items. Other domains import this module, never
``chalicelib.realtime.dal``."""

from __future__ import annotations

from chalicelib.realtime.dal import connection_store, frame_sender

__all__ = ["connection_store", "frame_sender"]
