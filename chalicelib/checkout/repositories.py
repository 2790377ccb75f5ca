"""The checkout domain's public repository factories: what another domain (e.g. account's erasure)
may use to run checkout's own logic on checkout's items. Other domains import this module, never
``chalicelib.checkout.dal``."""

from __future__ import annotations

from chalicelib.checkout.dal import repository

__all__ = ["repository"]
