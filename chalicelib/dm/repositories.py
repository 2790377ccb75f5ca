"""The dm domain's public repository factories: what another domain (e.g. account's erasure)
may use to run dm's own logic on dm's items. Other domains import this module, never
``chalicelib.dm.dal``."""

from __future__ import annotations

from chalicelib.dm.dal import store

__all__ = ["store"]
