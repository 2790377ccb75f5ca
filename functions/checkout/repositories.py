"""The checkout domain's public repository factories: what another domain (e.g. account's erasure)
may use to run checkout's own logic on checkout's items. Other domains import this module, never
``functions.checkout.dal``."""

from __future__ import annotations

from functions.checkout.dal import repository

__all__ = ["repository"]
