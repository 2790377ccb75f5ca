"""HTTP routes of the notify domain: the caller's push devices.

The routes are declared at import; the domain's dal, logic and models (pydantic, boto3) are
imported inside the handlers, on first use, so ``import app`` stays cheap (cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.core.clock import now_ms
from chalicelib.core.ids import new_ulid
from chalicelib.core.web import Api, ApiRequest, Reply

if TYPE_CHECKING:
    from chalicelib.notify.models import DeviceList

bp = Blueprint(__name__)
api = Api(bp)


@api.route(
    "/v1/me/devices",
    methods=["PUT"],
    auth=True,
    max_body=8 * 1024,
    response="chalicelib.notify.models:RegisteredDeviceOut",
    replies={201: "A new device.", 200: "The token was already registered."},
    body="chalicelib.notify.models:RegisterDeviceRequest",
    example={"platform": "fcm", "token": "fcm-token-123"},
)
def notify_register_device(request: ApiRequest) -> Reply:
    """Register a push token (at most 10 devices; the oldest is replaced)"""
    from chalicelib.notify import dal
    from chalicelib.notify.devices import register_device
    from chalicelib.notify.models import RegisterDeviceRequest, RegisteredDeviceOut

    body = request.body(RegisterDeviceRequest)
    device, created = register_device(
        dal.device_store(),
        dal.endpoint_registry(),
        request.user_id,
        body.platform,
        body.token,
        now_ms=now_ms(),
        new_id=new_ulid,
    )
    out = RegisteredDeviceOut(device_id=device.device_id, platform=body.platform)
    return Reply(out, status=201 if created else 200)


@api.route(
    "/v1/me/devices",
    methods=["GET"],
    auth=True,
    response="chalicelib.notify.models:DeviceList",
    replies={200: "All of them."},
)
def notify_list_devices(request: ApiRequest) -> DeviceList:
    """The caller's devices, newest first"""
    from chalicelib.notify import dal
    from chalicelib.notify.devices import list_devices
    from chalicelib.notify.models import DeviceList, DeviceOut

    devices = list_devices(dal.device_store(), request.user_id)
    return DeviceList(
        items=[DeviceOut.model_validate(d, from_attributes=True) for d in devices], next_cursor=None
    )


@api.route(
    "/v1/me/devices/{device_id}",
    methods=["DELETE"],
    auth=True,
    status=204,
    errors=(404,),
)
def notify_delete_device(request: ApiRequest, device_id: str) -> None:
    """Unregister one of the caller's devices"""
    from chalicelib.notify import dal
    from chalicelib.notify.devices import delete_device

    delete_device(dal.device_store(), dal.endpoint_registry(), request.user_id, device_id)
