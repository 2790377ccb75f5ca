"""The live domain's public repository factories: what another domain (e.g. account's erasure)
may use to run live's own logic on live's items. Other domains import this module, never
``chalicelib.live.dal``."""

from __future__ import annotations

from chalicelib.live.dal import chat, streams

__all__ = ["chat", "streams"]
