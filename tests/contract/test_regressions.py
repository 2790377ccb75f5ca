"""Regression tests for what the fuzzer (``make fuzz`` / test_fuzz.py) found at route level.

Each test names its finding; the fixes live in the domains / core (see the lead's routing).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient, body_of


def _friends(api: ApiClient, a: str, b: str) -> None:
    assert api.put(f"/v1/users/{b}/follow", user=a).status_code == 204
    assert api.put(f"/v1/users/{a}/follow", user=b).status_code == 204


def test_integral_json_numbers_are_accepted_for_integer_fields(api: ApiClient) -> None:
    # Finding F1 (POST /v1/products, PATCH /v1/products/{id}; every integer field): JSON has one
    # number type, and JSON Schema's "integer" includes 4999.0, but the strict models rejected it
    # with 400 "Input should be a valid integer".
    # Given a product body whose integers are written with a zero fraction
    body = {"title": "Sneakers", "price_cents": 4999.0, "currency": "USD", "stock": 100.0}

    # When it is posted
    response = api.post("/v1/products", body, user="f1-seller")

    # Then the product is created with integer values
    assert response.status_code == 201, body_of(response)
    assert (body_of(response)["price_cents"], body_of(response)["stock"]) == (4999, 100)


def test_fractional_numbers_are_still_rejected_for_integer_fields(api: ApiClient) -> None:
    # Given a quantity that is not a whole number
    body = {"title": "Sneakers", "price_cents": 4999.5, "currency": "USD", "stock": 1}

    # When it is posted
    response = api.post("/v1/products", body, user="f1-seller")

    # Then it is refused as invalid
    assert response.status_code == 400
    assert body_of(response)["code"] == "validation_error"


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_changing_members_of_a_direct_conversation_is_a_conflict(api: ApiClient, method: str) -> None:
    # Finding F2 (POST /v1/conversations/{id}/members, DELETE .../members/{user_id}): a well-formed
    # request on a direct conversation answered 400 validation_error; the body is valid, the
    # conversation's kind is what conflicts → 409 conflict.
    # Given a direct conversation between two friends
    _friends(api, "f2-alice", "f2-bob")
    created = api.post("/v1/conversations", {"member_ids": ["f2-bob"]}, user="f2-alice")
    assert created.status_code == 201
    cid = body_of(created)["conversation_id"]

    # When a member change is attempted on it
    if method == "POST":
        response = api.post(f"/v1/conversations/{cid}/members", {"user_ids": ["f2-carol"]}, user="f2-alice")
    else:
        response = api.delete(f"/v1/conversations/{cid}/members/f2-bob", user="f2-alice")

    # Then it is refused as a conflict with the conversation's state, and nothing changed
    assert response.status_code == 409, body_of(response)
    assert body_of(response)["code"] == "conflict"
    members = body_of(api.get(f"/v1/conversations/{cid}", user="f2-alice"))["members"]
    assert [m["user_id"] for m in members] == ["f2-alice", "f2-bob"]


class _TimingOutClient:
    """A DynamoDB client whose every call times out like an overloaded endpoint."""

    def __getattr__(self, name: str) -> Any:
        from botocore.exceptions import ReadTimeoutError

        def fail(**_: Any) -> Any:
            raise ReadTimeoutError(endpoint_url="http://dynamodb.test")

        return fail


def test_a_dynamodb_timeout_is_503_unavailable_not_500(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Finding F3 (every route; seen on POST /v1/streams, /v1/products, PUT /v1/me/phone, ...):
    # botocore's ReadTimeoutError / EndpointConnectionError escaped translate_errors → 500
    # internal_error. A dependency timing out is 503 unavailable (documented, retryable).
    # Given DynamoDB timing out
    from chalicelib.core import clients

    def timing_out() -> Any:
        return _TimingOutClient()

    timing_out.cache_clear = lambda: None  # type: ignore[attr-defined]  # reset_clients() calls it
    monkeypatch.setattr(clients, "dynamodb", timing_out)

    # When a route that reads the table is called
    response = api.get("/v1/me", user="f3-alice")

    # Then the client is told to retry later
    assert response.status_code == 503
    assert body_of(response)["code"] == "unavailable"


def test_starting_a_stream_whose_write_was_already_applied_is_not_a_500(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Finding F4 (POST /v1/streams with room_cap/expected peak ≥ 5000, i.e. K ≥ 10 shards): the
    # create transaction timed out against the local endpoint, botocore retried it, the retry's
    # attribute_not_exists condition failed on the META the first attempt had written, and the
    # TransactionCancelled escaped → 500. A create that finds its own stream already written is
    # the same stream (201); any other cancellation is 409/503, never 500.
    # Given a stream id that is already taken
    from chalicelib.live import api as live_api

    monkeypatch.setattr(live_api, "new_ulid", lambda: "01JDQ3Z5XG8V0M6K2T1R9YB4CN")
    first = api.post("/v1/streams", {"title": "one"}, user="f4-host")
    assert first.status_code == 201

    # When the same create runs again and its transaction is cancelled
    again = api.post("/v1/streams", {"title": "one"}, user="f4-host")

    # Then the answer is not a server error
    assert again.status_code in (201, 409, 503), body_of(again)
