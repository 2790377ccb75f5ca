"""Device registration rules: new / known / limit 10 / moving between accounts / delete."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.notify.devices import (
    Device,
    DeviceNotFoundError,
    DevicesBusyError,
    PushTokenRejectedError,
    delete_device,
    list_devices,
    register_device,
)
from tests.unit.notify.fakes import FakeEndpoints, MemoryDeviceStore

_ids = itertools.count(1)
_clock = itertools.count(1)


def _register(
    store: MemoryDeviceStore, endpoints: FakeEndpoints, user: str, token: str, platform: str = "apns"
) -> tuple[Device, bool]:
    return register_device(
        store,
        endpoints,
        user,
        platform,
        token,
        now_ms=1_767_225_600_000 + next(_clock),  # strictly increasing
        new_id=lambda: f"DEV{next(_ids):05d}",
    )


def test_a_new_token_becomes_a_device_with_its_own_endpoint() -> None:
    # Given no devices
    store, endpoints = MemoryDeviceStore(), FakeEndpoints()
    # When alice registers a token
    device, created = _register(store, endpoints, "alice", "tok-1")
    # Then it is new, listed, and backed by a platform endpoint
    assert created is True
    assert [d.device_id for d in list_devices(store, "alice")] == [device.device_id]
    assert device.endpoint_arn in endpoints.live()


def test_registering_the_same_token_again_returns_the_same_device_without_changes() -> None:
    # Given alice registered a token
    store, endpoints = MemoryDeviceStore(), FakeEndpoints()
    first, _ = _register(store, endpoints, "alice", "tok-1")
    # When the app registers it again (every app start does)
    again, created = _register(store, endpoints, "alice", "tok-1")
    # Then it is the known device, and no second endpoint was created
    assert created is False
    assert again == first
    assert endpoints.created == 1
    assert len(list_devices(store, "alice")) == 1


def test_the_same_token_on_another_platform_is_another_device() -> None:
    store, endpoints = MemoryDeviceStore(), FakeEndpoints()
    _register(store, endpoints, "alice", "tok-1", "apns")
    _, created = _register(store, endpoints, "alice", "tok-1", "fcm")
    assert created is True
    assert {d.platform for d in list_devices(store, "alice")} == {"apns", "fcm"}


def test_an_eleventh_device_replaces_the_oldest_and_deletes_its_endpoint() -> None:
    # Given alice has 10 devices
    store, endpoints = MemoryDeviceStore(), FakeEndpoints()
    devices = [_register(store, endpoints, "alice", f"tok-{i}")[0] for i in range(10)]
    # When she registers an 11th
    newest, created = _register(store, endpoints, "alice", "tok-10")
    # Then she still has 10: the oldest is gone (endpoint deleted), the newest is there
    listed = list_devices(store, "alice")
    assert created is True
    assert len(listed) == 10
    assert devices[0].device_id not in {d.device_id for d in listed}
    assert listed[0].device_id == newest.device_id
    assert endpoints.deleted == [devices[0].endpoint_arn]
    # And the replaced token registers as new again (its claim went with it)
    _, created_again = _register(store, endpoints, "alice", "tok-0")
    assert created_again is True


def test_a_token_that_moves_to_another_account_leaves_the_old_account() -> None:
    # Given alice's phone is registered to alice
    store, endpoints = MemoryDeviceStore(), FakeEndpoints()
    alices, _ = _register(store, endpoints, "alice", "shared-phone")
    # When bob signs in on that phone and registers the same token
    bobs, created = _register(store, endpoints, "bob", "shared-phone")
    # Then bob has the device, alice no longer does (her pushes stop going to bob's hands)
    assert created is True
    assert [d.device_id for d in list_devices(store, "bob")] == [bobs.device_id]
    assert list_devices(store, "alice") == []
    # And the endpoint (one per token) is reused, not deleted
    assert bobs.endpoint_arn == alices.endpoint_arn
    assert endpoints.deleted == []


def test_deleting_a_device_removes_it_and_its_endpoint() -> None:
    store, endpoints = MemoryDeviceStore(), FakeEndpoints()
    device, _ = _register(store, endpoints, "alice", "tok-1")
    delete_device(store, endpoints, "alice", device.device_id)
    assert list_devices(store, "alice") == []
    assert endpoints.deleted == [device.endpoint_arn]


def test_deleting_someone_elses_or_an_unknown_device_is_not_found() -> None:
    # Given alice has a device
    store, endpoints = MemoryDeviceStore(), FakeEndpoints()
    device, _ = _register(store, endpoints, "alice", "tok-1")
    # When bob tries to delete it, or anyone deletes a made-up id
    for user, device_id in (("bob", device.device_id), ("alice", "nope")):
        with pytest.raises(DeviceNotFoundError):
            delete_device(store, endpoints, user, device_id)
    # Then alice's device is untouched
    assert list_devices(store, "alice") == [device]
    assert endpoints.deleted == []


def test_a_lost_race_is_retried() -> None:
    store, endpoints = MemoryDeviceStore(), FakeEndpoints()
    store.conflicts_to_raise = 2
    _, created = _register(store, endpoints, "alice", "tok-1")
    assert created is True
    assert len(list_devices(store, "alice")) == 1


def test_endless_races_answer_retry_later() -> None:
    store, endpoints = MemoryDeviceStore(), FakeEndpoints()
    store.conflicts_to_raise = 99
    with pytest.raises(DevicesBusyError) as caught:
        _register(store, endpoints, "alice", "tok-1")
    assert caught.value.status == 503


def test_a_token_the_push_service_rejects_is_a_validation_error() -> None:
    store, endpoints = MemoryDeviceStore(), FakeEndpoints()
    with pytest.raises(PushTokenRejectedError) as caught:
        _register(store, endpoints, "alice", "rejected")
    assert caught.value.status == 400
    assert list_devices(store, "alice") == []
