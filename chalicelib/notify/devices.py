"""Push devices: register, list, delete (plain logic over Protocol-typed stores).

A user's devices live in one small item (at most ``MAX_DEVICES`` entries) written with an
optimistic ``version``. A token claim records which user owns a token right now: when a phone
signs into another account, the token (and its SNS endpoint) moves to the new account, so the
old account's messages stop reaching that phone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chalicelib.core.clock import iso_from_ms
from chalicelib.core.errors import NotFoundError, UnavailableError, ValidationError
from chalicelib.core.observability import logger
from chalicelib.notify.ports import DeviceStore, EndpointRegistry

MAX_DEVICES = 10
# Optimistic-lock retries: two registrations of one user racing is rare; three rounds is plenty.
SAVE_ATTEMPTS = 3


class DeviceNotFoundError(NotFoundError):
    """The device does not exist (or is not the caller's)."""


class PushTokenRejectedError(ValidationError):
    """The push service rejected the device token."""


class DeviceSetConflictError(Exception):
    """The device set or a token claim changed since it was read (optimistic lock lost)."""


class DevicesBusyError(UnavailableError):
    """The user's devices kept changing concurrently; the client may retry."""


@dataclass(frozen=True)
class Device:
    """One registered device: a platform endpoint that delivers pushes to a phone."""

    device_id: str
    platform: str
    endpoint_arn: str
    token_hash: str
    created_at: str


@dataclass(frozen=True)
class DeviceSet:
    """All devices of a user, with the version the next write must still see."""

    user_id: str
    devices: tuple[Device, ...] = ()
    version: int = 0

    def find(self, device_id: str) -> Device | None:
        """The device with this id, if registered."""
        return next((d for d in self.devices if d.device_id == device_id), None)

    def by_token(self, platform: str, token_hash: str) -> Device | None:
        """The device registered with this token, if any."""
        return next((d for d in self.devices if d.platform == platform and d.token_hash == token_hash), None)


@dataclass(frozen=True)
class TokenClaim:
    """Who owns a device token now."""

    platform: str
    token_hash: str
    user_id: str
    device_id: str
    endpoint_arn: str


@dataclass(frozen=True)
class Registration:
    """Everything one registration writes atomically."""

    user_id: str
    devices: tuple[Device, ...]
    expected_version: int
    claim: TokenClaim
    previous_claim: TokenClaim | None
    evicted: tuple[Device, ...] = field(default_factory=tuple)


def token_hash(platform: str, token: str) -> str:
    """A stable digest of a token: the table never stores tokens themselves."""
    return hashlib.sha256(f"{platform}:{token}".encode()).hexdigest()


def _delete_endpoints(endpoints: EndpointRegistry, devices: Sequence[Device]) -> None:
    for device in devices:
        try:
            endpoints.delete(device.endpoint_arn)
        except Exception:  # an orphaned endpoint is harmless; the registration already counts
            logger.warning("endpoint delete failed", extra={"device_id": device.device_id})


def register_device(
    store: DeviceStore,
    endpoints: EndpointRegistry,
    user_id: str,
    platform: str,
    token: str,
    *,
    now_ms: int,
    new_id: Callable[[], str],
    max_devices: int = MAX_DEVICES,
) -> tuple[Device, bool]:
    """Register a token for ``user_id``; return the device and whether it is new.

    A known token (already the caller's) returns the same device and changes nothing. At the
    limit the oldest device is replaced and its endpoint deleted.
    """
    digest = token_hash(platform, token)
    endpoint_arn: str | None = None
    for _ in range(SAVE_ATTEMPTS):
        current, claim = store.load_with_claim(user_id, platform, digest)
        known = current.by_token(platform, digest)
        if known is not None and claim is not None and claim.user_id == user_id:
            return known, False
        if endpoint_arn is None:
            # A claimed token already has its endpoint (one per token); otherwise create it.
            endpoint_arn = claim.endpoint_arn if claim is not None else endpoints.create(platform, token)
        device = Device(new_id(), platform, endpoint_arn, digest, iso_from_ms(now_ms))
        kept = sorted(
            (d for d in current.devices if not (d.platform == platform and d.token_hash == digest)),
            key=lambda d: (d.created_at, d.device_id),
        )
        overflow = max(0, len(kept) - (max_devices - 1))
        evicted, kept = tuple(kept[:overflow]), kept[overflow:]
        registration = Registration(
            user_id=user_id,
            devices=(*kept, device),
            expected_version=current.version,
            claim=TokenClaim(platform, digest, user_id, device.device_id, endpoint_arn),
            previous_claim=claim,
            evicted=evicted,
        )
        try:
            store.save_registration(registration)
        except DeviceSetConflictError:
            continue
        _delete_endpoints(endpoints, [d for d in evicted if d.endpoint_arn != endpoint_arn])
        return device, True
    raise DevicesBusyError("Your devices changed concurrently; retry.")


def list_devices(store: DeviceStore, user_id: str) -> list[Device]:
    """The caller's devices, newest first."""
    devices = store.load(user_id).devices
    return sorted(devices, key=lambda d: (d.created_at, d.device_id), reverse=True)


def delete_device(store: DeviceStore, endpoints: EndpointRegistry, user_id: str, device_id: str) -> None:
    """Unregister one of the caller's devices and delete its endpoint; others' → not found."""
    for _ in range(SAVE_ATTEMPTS):
        current = store.load(user_id)
        device = current.find(device_id)
        if device is None:
            raise DeviceNotFoundError("Device not found.")
        try:
            store.remove(user_id, device, current.version)
        except DeviceSetConflictError:
            continue
        _delete_endpoints(endpoints, [device])
        return
    raise DevicesBusyError("Your devices changed concurrently; retry.")


def forget_dead_device(store: DeviceStore, endpoints: EndpointRegistry, user_id: str, device: Device) -> bool:
    """The push service says this endpoint is disabled or gone: drop that device only."""
    removed = store.remove_if_endpoint(user_id, device)
    if removed:
        _delete_endpoints(endpoints, [device])
    return removed
