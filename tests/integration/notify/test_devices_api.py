"""Devices over HTTP against moto: register, re-register, limit 10, delete, privacy, bad input."""

from __future__ import annotations

import os
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from chalicelib.notify import dal
from tests.conftest import ApiClient, body_of


def _live_endpoints() -> dict[str, Any]:
    return dict(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].platform_endpoints)


def test_register_a_new_token_then_the_same_token_again(api: ApiClient) -> None:
    # When alice registers a token
    first = api.put("/v1/me/devices", {"platform": "apns", "token": "a" * 64}, user="alice")
    # Then it is created, with a platform endpoint for that token under the APNs application
    assert first.status_code == 201
    created = body_of(first)
    assert set(created) == {"device_id", "platform"}
    assert created["platform"] == "apns"
    (endpoint,) = _live_endpoints().values()
    assert endpoint.token == "a" * 64
    assert endpoint.application.platform == "APNS_SANDBOX"
    # When the app registers the same token again
    again = api.put("/v1/me/devices", {"platform": "apns", "token": "a" * 64}, user="alice")
    # Then it is the same device, 200, and nothing new exists
    assert again.status_code == 200
    assert body_of(again) == created
    assert len(_live_endpoints()) == 1
    listed = body_of(api.get("/v1/me/devices", user="alice"))
    assert [d["device_id"] for d in listed["items"]] == [created["device_id"]]
    assert listed["next_cursor"] is None


def test_fcm_tokens_use_the_gcm_application(api: ApiClient) -> None:
    response = api.put("/v1/me/devices", {"platform": "fcm", "token": "fcm-token-1"}, user="alice")
    assert response.status_code == 201
    (endpoint,) = _live_endpoints().values()
    assert endpoint.application.platform == "GCM"


def test_an_eleventh_device_replaces_the_oldest(api: ApiClient) -> None:
    # Given alice registered 10 phones
    ids = [
        body_of(api.put("/v1/me/devices", {"platform": "fcm", "token": f"phone-{i}"}, user="alice"))[
            "device_id"
        ]
        for i in range(10)
    ]
    oldest_arn = dal.device_store().load("alice").find(ids[0]).endpoint_arn  # type: ignore[union-attr]
    # When she registers an 11th
    newest = api.put("/v1/me/devices", {"platform": "fcm", "token": "phone-10"}, user="alice")
    # Then she has 10 devices: the oldest was replaced and its endpoint deleted
    assert newest.status_code == 201
    listed = [d["device_id"] for d in body_of(api.get("/v1/me/devices", user="alice"))["items"]]
    assert len(listed) == 10
    assert ids[0] not in listed
    assert listed[0] == body_of(newest)["device_id"]
    assert oldest_arn not in _live_endpoints()


def test_delete_a_device(api: ApiClient) -> None:
    device_id = body_of(api.put("/v1/me/devices", {"platform": "apns", "token": "b" * 64}, user="alice"))[
        "device_id"
    ]
    response = api.delete(f"/v1/me/devices/{device_id}", user="alice")
    assert response.status_code == 204
    assert body_of(api.get("/v1/me/devices", user="alice"))["items"] == []
    assert _live_endpoints() == {}
    # Deleting it again is not found
    assert api.delete(f"/v1/me/devices/{device_id}", user="alice").status_code == 404


def test_another_users_device_is_not_found_and_stays(api: ApiClient) -> None:
    device_id = body_of(api.put("/v1/me/devices", {"platform": "apns", "token": "c" * 64}, user="alice"))[
        "device_id"
    ]
    response = api.delete(f"/v1/me/devices/{device_id}", user="mallory")
    assert response.status_code == 404
    assert body_of(response)["code"] == "not_found"
    assert body_of(api.get("/v1/me/devices", user="mallory"))["items"] == []
    assert len(body_of(api.get("/v1/me/devices", user="alice"))["items"]) == 1


def test_a_phone_that_signs_into_another_account_moves_there(api: ApiClient) -> None:
    api.put("/v1/me/devices", {"platform": "apns", "token": "d" * 64}, user="alice")
    moved = api.put("/v1/me/devices", {"platform": "apns", "token": "d" * 64}, user="bob")
    assert moved.status_code == 201
    assert body_of(api.get("/v1/me/devices", user="alice"))["items"] == []
    assert len(body_of(api.get("/v1/me/devices", user="bob"))["items"]) == 1
    assert len(_live_endpoints()) == 1


def test_bad_device_requests_are_400_and_write_nothing(api: ApiClient) -> None:
    bad_bodies: list[Any] = [
        {"platform": "blackberry", "token": "x"},
        {"platform": "apns", "token": ""},
        {"platform": "apns", "token": "x" * 4097},
        {"platform": "apns", "token": 5},
        {"platform": "apns", "token": "x", "endpoint_arn": "arn:evil"},
        {"platform": "apns"},
        ["apns", "x"],
    ]
    for body in bad_bodies:
        response = api.put("/v1/me/devices", body, user="alice")
        assert response.status_code == 400, body
        assert body_of(response)["code"] == "validation_error"
    assert api.put("/v1/me/devices", raw="{not json", user="alice").status_code == 400
    assert body_of(api.get("/v1/me/devices", user="alice"))["items"] == []
    assert _live_endpoints() == {}


def test_devices_need_a_token(api: ApiClient) -> None:
    assert api.get("/v1/me/devices").status_code == 401
    assert api.put("/v1/me/devices", {"platform": "apns", "token": "x"}).status_code == 401


def test_the_longest_allowed_token_is_accepted(api: ApiClient) -> None:
    response = api.put("/v1/me/devices", {"platform": "fcm", "token": "t" * 4096}, user="alice")
    assert response.status_code == 201
    sns = boto3.client("sns", region_name="us-east-1")
    endpoints = sns.list_endpoints_by_platform_application(
        PlatformApplicationArn=os.environ["GCM_PLATFORM_APPLICATION_ARN"]
    )["Endpoints"]
    assert [e["Attributes"]["Token"] for e in endpoints] == ["t" * 4096]
