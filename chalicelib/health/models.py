"""Response model of the health check."""

from __future__ import annotations

from typing import Literal

from chalicelib.core.models import ResponseModel


class Health(ResponseModel):
    """The service is up."""

    status: Literal["ok"]
