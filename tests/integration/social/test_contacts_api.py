"""Find friends from real life over HTTP against moto: phone opt-in, matching, suggestions."""

from __future__ import annotations

from typing import Any

from functions.core import clients
from functions.core.settings import get_settings
from tests.conftest import ApiClient, body_of


def match(api: ApiClient, user: str, phones: list[str]) -> Any:
    return api.post("/v1/me/contacts/match", {"phones": phones}, user=user)


def table_dump() -> str:
    """Every item of the table, as text (to prove what is, and is not, stored)."""
    return str(clients.dynamodb().scan(TableName=get_settings().table_name)["Items"])


def test_opted_in_users_are_found_and_the_number_is_never_stored(api: ApiClient) -> None:
    # Given alice opts in with her number
    assert api.put("/v1/me/phone", {"phone": "+1 415 555 0100"}, user="alice").status_code == 204
    # When carol uploads contacts with alice's number, a stranger's and junk
    response = match(api, "carol", ["+14155550100", "+14155550111", "call me"])
    # Then alice is found, and no phone number appears anywhere in the table
    assert response.status_code == 200
    assert body_of(response) == {"items": [{"phone": "+14155550100", "user_id": "alice"}]}
    dump = table_dump()
    assert "4155550100" not in dump and "4155550111" not in dump


def test_opt_out_stops_matches(api: ApiClient) -> None:
    # Given alice opted in then out (twice)
    api.put("/v1/me/phone", {"phone": "+14155550100"}, user="alice")
    assert api.delete("/v1/me/phone", user="alice").status_code == 204
    assert api.delete("/v1/me/phone", user="alice").status_code == 204
    # When
    response = match(api, "carol", ["+14155550100"])
    # Then
    assert body_of(response) == {"items": []}


def test_number_already_used_by_another_account_conflicts(api: ApiClient) -> None:
    # Given
    api.put("/v1/me/phone", {"phone": "+14155550100"}, user="alice")
    # When
    response = api.put("/v1/me/phone", {"phone": "+14155550100"}, user="bob")
    # Then
    assert response.status_code == 409
    assert body_of(response)["code"] == "conflict"
    assert body_of(match(api, "carol", ["+14155550100"]))["items"][0]["user_id"] == "alice"


def test_changing_number_moves_the_opt_in(api: ApiClient) -> None:
    api.put("/v1/me/phone", {"phone": "+14155550100"}, user="alice")
    assert api.put("/v1/me/phone", {"phone": "+14155550199"}, user="alice").status_code == 204
    found = body_of(match(api, "carol", ["+14155550100", "+14155550199"]))["items"]
    assert found == [{"phone": "+14155550199", "user_id": "alice"}]


def test_bad_phone_bodies_are_400(api: ApiClient) -> None:
    for body in ({"phone": "12345"}, {"phone": 14155550100}, {}, {"phone": "+14155550100", "x": 1}):
        response = api.put("/v1/me/phone", body, user="alice")
        assert response.status_code == 400, body
        assert body_of(response)["code"] == "validation_error"


def test_matching_excludes_the_caller_and_blocks_either_way(api: ApiClient) -> None:
    # Given three opted-in users; carol blocked dave, erin blocked carol
    for user, phone in (("carol", "+14155550103"), ("dave", "+14155550104"), ("erin", "+14155550105")):
        api.put("/v1/me/phone", {"phone": phone}, user=user)
    api.put("/v1/users/dave/block", user="carol")
    api.put("/v1/users/carol/block", user="erin")
    # When carol uploads all three numbers
    response = match(api, "carol", ["+14155550103", "+14155550104", "+14155550105"])
    # Then nobody is found
    assert body_of(response) == {"items": []}


def test_more_than_500_numbers_in_one_request_is_400(api: ApiClient) -> None:
    response = match(api, "carol", [f"+1415555{i:04d}" for i in range(501)])
    assert response.status_code == 400
    assert body_of(response)["code"] == "validation_error"


def test_more_than_1000_numbers_a_day_is_429_with_retry_after(api: ApiClient) -> None:
    # Given carol already submitted 1,000 numbers today
    for start in (0, 500):
        assert match(api, "carol", [f"+1415555{i:04d}" for i in range(start, start + 500)]).status_code == 200
    # When she submits one more
    response = match(api, "carol", ["+14155550100"])
    # Then
    assert response.status_code == 429
    assert body_of(response)["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 86_400
    # And another user is not affected
    assert match(api, "dave", ["+14155550100"]).status_code == 200


def test_suggestions_rank_contacts_then_friends_of_friends(api: ApiClient) -> None:
    # Given me is friends with f1 and f2; x is friends with both; y with f1 only
    def friends(a: str, b: str) -> None:
        api.put(f"/v1/users/{b}/follow", user=a)
        api.put(f"/v1/users/{a}/follow", user=b)

    for f in ("f1", "f2"):
        friends("me", f)
        friends(f, "x")
    friends("f1", "y")
    # And "pal" is in me's contacts; "known" is a contact me already follows
    api.put("/v1/me/phone", {"phone": "+14155550123"}, user="pal")
    api.put("/v1/me/phone", {"phone": "+14155550124"}, user="known")
    api.put("/v1/users/known/follow", user="me")
    match(api, "me", ["+14155550123", "+14155550124"])
    # When
    response = api.get("/v1/me/suggestions?limit=10", user="me")
    # Then
    assert response.status_code == 200
    assert body_of(response)["items"] == [
        {"user_id": "pal", "reason": "contact", "mutual_friends": 0},
        {"user_id": "x", "reason": "friends_of_friends", "mutual_friends": 2},
        {"user_id": "y", "reason": "friends_of_friends", "mutual_friends": 1},
    ]
    # And the limit is honoured / validated
    assert len(body_of(api.get("/v1/me/suggestions?limit=1", user="me"))["items"]) == 1
    assert api.get("/v1/me/suggestions?limit=0", user="me").status_code == 400
