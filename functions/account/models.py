"""Request models of the account domain."""

from __future__ import annotations

from typing import Literal

from functions.core.models import RequestModel


class DeleteAccount(RequestModel):
    """``DELETE /v1/me``: the user types ``DELETE`` to confirm."""

    confirm: Literal["DELETE"]
