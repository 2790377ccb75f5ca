"""Request and response models of the notify domain."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.core.models import RequestModel, ResponseModel

Platform = Literal["apns", "fcm"]
MAX_TOKEN_LENGTH = 4096


class RegisterDeviceRequest(RequestModel):
    """``PUT /v1/me/devices``: the push token the OS gave the app."""

    platform: Platform
    token: str = Field(min_length=1, max_length=MAX_TOKEN_LENGTH)


class DeviceOut(ResponseModel):
    """A registered device as its owner sees it (never the token or the endpoint)."""

    device_id: str
    platform: Platform
    created_at: str


class RegisteredDeviceOut(ResponseModel):
    """Reply of ``PUT /v1/me/devices``."""

    device_id: str
    platform: Platform


class DeviceList(ResponseModel):
    """Reply of ``GET /v1/me/devices`` (at most 10 devices: one page, no cursor)."""

    items: list[DeviceOut]
    next_cursor: str | None = None
