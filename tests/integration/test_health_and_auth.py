"""Health and the bearer-token rules every route relies on."""

from __future__ import annotations

from tests.conftest import ApiClient, body_of


def test_health_needs_no_token(api: ApiClient) -> None:
    # When
    response = api.get("/v1/health")
    # Then
    assert response.status_code == 200
    assert body_of(response) == {"status": "ok"}


def test_sanity_route_with_token(api: ApiClient) -> None:
    response = api.get("/v1/health", user="u1")
    assert response.status_code == 200
