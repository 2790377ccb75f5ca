"""Odd input is a 4xx with ``{"code", "message"}``, never a 500: Unicode digits and other
non-ASCII in ``limit``, cursors, path ids and headers; JSON nested beyond 64 levels; ID tokens."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from chalicelib.core.web import MAX_JSON_DEPTH
from local.tokens import mint_id_token
from tests.conftest import ApiClient, body_of
from tests.support.env import keypair


def _nested(depth: int) -> str:
    """A JSON object whose ``member_ids`` holds arrays nested so the document is ``depth`` deep."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return json.dumps({"member_ids": "PLACEHOLDER"}).replace('"PLACEHOLDER"', inner)


ODD_LIMITS = ["²", "٣", "\uff11\uff10", "1e1", "-1", "0", "101", "9" * 5000, " 5", "5\u00a0"]


@pytest.mark.parametrize("limit", ODD_LIMITS)
def test_a_limit_that_is_not_ascii_digits_in_range_is_400(api: ApiClient, limit: str) -> None:
    # When alice lists her conversations with an odd limit (Unicode digits pass str.isdigit())
    response = api.get(f"/v1/conversations?limit={quote(limit)}", user="alice")
    # Then it is a validation error, not a crash
    assert response.status_code == 400, response.body
    assert body_of(response)["code"] == "validation_error"


@pytest.mark.parametrize("cursor", ["é", "\uff43\uff55\uff52.\uff58", "abc.d\u0301", "a b.c", "\u202e.x"])
def test_a_non_ascii_cursor_is_400_invalid_cursor(api: ApiClient, cursor: str) -> None:
    # When the cursor carries non-ASCII characters
    response = api.get(f"/v1/conversations?cursor={quote(cursor)}", user="alice")
    # Then
    assert response.status_code == 400, response.body
    assert body_of(response)["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/conversations/{}",
        "/v1/conversations/{}/messages",
        "/v1/users/{}/relationship",
        "/v1/orders/{}",
        "/v1/streams/{}",
    ],
)
@pytest.mark.parametrize("odd_id", ["é", "٣٣", "\u00a0x", "\u200b", "ok\u0301"])
def test_a_path_id_with_non_ascii_characters_is_400(api: ApiClient, path: str, odd_id: str) -> None:
    # When a path id is not visible ASCII
    response = api.get(path.format(odd_id), user="alice")
    # Then
    assert response.status_code == 400, response.body
    assert body_of(response)["code"] == "validation_error"


@pytest.mark.parametrize("key", ["ключ", "k\u00e9y", " padded", "tab\tkey"])
def test_a_non_ascii_idempotency_key_is_400(api: ApiClient, key: str) -> None:
    # When a share carries an Idempotency-Key outside printable ASCII
    response = api.post(
        "/v1/videos/vid-1/shares",
        {"recipient_ids": ["bob"]},
        user="alice",
        headers={"Idempotency-Key": key},
    )
    # Then
    assert response.status_code == 400, response.body
    assert body_of(response)["code"] == "validation_error"


@pytest.mark.parametrize("authorization", ["Bearer é.é.é", "Bearer ²", "Bearér x", "Bearer \u00ff\u00fe"])
def test_a_non_ascii_authorization_header_is_401(api: ApiClient, authorization: str) -> None:
    # When the bearer token carries non-ASCII characters
    response = api.get("/v1/conversations", headers={"Authorization": authorization})
    # Then the caller is not authenticated (and nothing crashes)
    assert response.status_code == 401, response.body
    assert body_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 10_000])
def test_json_nested_beyond_64_levels_is_400_validation_error(api: ApiClient, depth: int) -> None:
    # When a body nests deeper than the limit (10,000 levels used to be a RecursionError → 500)
    response = api.post("/v1/conversations", user="alice", raw=_nested(depth))
    # Then
    assert response.status_code == 400, response.body
    assert body_of(response) == {
        "code": "validation_error",
        "message": f"The request body nests deeper than {MAX_JSON_DEPTH} levels.",
    }


def test_json_nested_exactly_64_levels_reaches_validation(api: ApiClient) -> None:
    # When a body nests exactly 64 levels (allowed depth)
    response = api.post("/v1/conversations", user="alice", raw=_nested(MAX_JSON_DEPTH))
    # Then it is parsed and refused by the model (member ids are strings), not for its depth
    assert response.status_code == 400, response.body
    assert "nests deeper" not in body_of(response)["message"]


def test_a_cognito_id_token_gets_401_on_the_api(api: ApiClient) -> None:
    # Given a Cognito-shaped ID token of the right pool and app client
    token = mint_id_token(keypair()[0], "alice")
    # When it is used as a bearer token
    response = api.get("/v1/conversations", headers={"Authorization": f"Bearer {token}"})
    # Then the API refuses it: only access tokens are credentials
    assert response.status_code == 401, response.body
    assert body_of(response)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
