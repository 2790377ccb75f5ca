"""The notify domain's public repository factories: what another domain (e.g. account's erasure)
may use to run notify's own logic on notify's items. Other domains import this module, never
``chalicelib.notify.dal``."""

from __future__ import annotations

from chalicelib.notify.dal import device_store, endpoint_registry

__all__ = ["device_store", "endpoint_registry"]
