"""Find friends from real life over HTTP against moto: phone opt-in, matching, suggestions."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.core import clients
from chalicelib.core.settings import get_settings
from tests.conftest import ApiClient, body_of


def match(api: ApiClient, user: str, phones: list[str]) -> Any:
    return api.post("/v1/me/contacts/match", {"phones": phones}, user=user)


def table_dump() -> str:
    """Every item of the table, as text (to prove what is, and is not, stored)."""
    return str(clients.dynamodb().scan(TableName=get_settings().table_name)["Items"])


def sent_sms() -> list[tuple[str, str]]:
    """Every SMS moto's SNS backend received (number, text), oldest first."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())


def last_code(e164: str) -> str:
    """The code in the last SMS texted to a number."""
    texts = [text for number, text in sent_sms() if number == e164]
    assert texts, f"no SMS to {e164}"
    found = re.search(r"\b(\d{6})\b", texts[-1])
    assert found, texts[-1]
    return found.group(1)


def verify_number(api: ApiClient, user: str, phone: str) -> None:
    """PUT the number, read the texted code from moto, POST it: the number is the user's."""
    started = api.put("/v1/me/phone", {"phone": phone}, user=user)
    assert started.status_code == 202, body_of(started)
    e164 = "+" + re.sub(r"\D", "", phone)
    body = {"verification_id": body_of(started)["verification_id"], "code": last_code(e164)}
    assert api.post("/v1/me/phone/verify", body, user=user).status_code == 204


def test_verified_users_are_found_and_the_number_is_never_stored(api: ApiClient) -> None:
    # Given alice verified her number by SMS
    verify_number(api, "alice", "+1 415 555 0100")
    # When carol uploads contacts with alice's number, a stranger's and junk
    response = match(api, "carol", ["+14155550100", "+14155550111", "call me"])
    # Then alice is found, and no phone number or code appears anywhere in the table
    assert response.status_code == 200
    assert body_of(response) == {"items": [{"phone": "+14155550100", "user_id": "alice"}]}
    dump = table_dump()
    assert "4155550100" not in dump and "4155550111" not in dump
    assert last_code("+14155550100") not in dump


def test_a_number_is_not_anyones_until_its_code_is_entered(api: ApiClient) -> None:
    started = api.put("/v1/me/phone", {"phone": "+14155550100"}, user="mallory")
    assert started.status_code == 202
    assert body_of(match(api, "carol", ["+14155550100"])) == {"items": []}


def test_nobody_can_tell_from_any_answer_whether_a_number_is_registered(api: ApiClient) -> None:
    # Given bob verified his number; +14155550199 is nobody's
    verify_number(api, "bob", "+14155550100")
    # When mallory asks for codes for both, and tries wrong codes on both
    answers = []
    for phone in ("+14155550100", "+14155550199"):
        started = api.put("/v1/me/phone", {"phone": phone}, user="mallory")
        body = body_of(started)
        wrong = "000000" if last_code(phone) != "000000" else "111111"
        verified = api.post(
            "/v1/me/phone/verify", {"verification_id": body["verification_id"], "code": wrong}, user="mallory"
        )
        answers.append(
            (
                started.status_code,
                sorted(body),
                verified.status_code,
                body_of(verified),
                started.headers.get("Retry-After"),
            )
        )
    # Then every answer is the same: same statuses, same fields, same error bodies
    assert answers[0] == answers[1]
    assert answers[0][0] == 202 and answers[0][2] == 400
    assert answers[0][3]["code"] == "invalid_code"
    # And the number is still bob's
    assert body_of(match(api, "carol", ["+14155550100"]))["items"] == [
        {"phone": "+14155550100", "user_id": "bob"}
    ]


def test_a_verified_number_moves_to_its_new_holder(api: ApiClient) -> None:
    # Given bob verified a number, and it was recycled to newbob
    verify_number(api, "bob", "+14155550100")
    verify_number(api, "newbob", "+14155550100")
    # Then contact matches find newbob, and bob lost it silently
    assert body_of(match(api, "carol", ["+14155550100"]))["items"] == [
        {"phone": "+14155550100", "user_id": "newbob"}
    ]
    assert api.delete("/v1/me/phone", user="bob").status_code == 204  # nothing left to clear, still 204
    assert body_of(match(api, "carol", ["+14155550100"]))["items"][0]["user_id"] == "newbob"
    # And bob can verify another number
    verify_number(api, "bob", "+14155550101")
    assert body_of(match(api, "carol", ["+14155550101"]))["items"][0]["user_id"] == "bob"


def test_wrong_codes_unknown_and_exhausted_verifications(api: ApiClient) -> None:
    started = body_of(api.put("/v1/me/phone", {"phone": "+14155550100"}, user="alice"))
    vid, right = started["verification_id"], last_code("+14155550100")
    wrong = "000000" if right != "000000" else "111111"

    def attempt(code: str, verification_id: str = vid, user: str = "alice") -> Any:
        return api.post("/v1/me/phone/verify", {"verification_id": verification_id, "code": code}, user=user)

    assert attempt(right, "01NOPE").status_code == 404
    assert attempt(right, user="mallory").status_code == 404  # someone else's verification
    for _ in range(4):
        response = attempt(wrong)
        assert response.status_code == 400 and body_of(response)["code"] == "invalid_code"
    fifth = attempt(wrong)
    assert fifth.status_code == 429 and body_of(fifth)["code"] == "rate_limited"
    assert int(fifth.headers["Retry-After"]) >= 1
    assert attempt(right).status_code == 429
    assert body_of(match(api, "carol", ["+14155550100"])) == {"items": []}


def test_at_most_five_codes_per_user_and_per_number_a_day(api: ApiClient) -> None:
    for i in range(5):
        assert api.put("/v1/me/phone", {"phone": f"+1415555{i:04d}"}, user="pumper").status_code == 202
    refused = api.put("/v1/me/phone", {"phone": "+14155550777"}, user="pumper")
    assert refused.status_code == 429 and body_of(refused)["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
    for i in range(5):
        assert api.put("/v1/me/phone", {"phone": "+14155550888"}, user=f"u{i}").status_code == 202
    assert api.put("/v1/me/phone", {"phone": "+14155550888"}, user="u9").status_code == 429
    assert len([n for n, _ in sent_sms() if n in ("+14155550777", "+14155550888")]) == 5


def test_opt_out_stops_matches(api: ApiClient) -> None:
    # Given alice verified then opted out (twice)
    verify_number(api, "alice", "+14155550100")
    assert api.delete("/v1/me/phone", user="alice").status_code == 204
    assert api.delete("/v1/me/phone", user="alice").status_code == 204
    # Then
    assert body_of(match(api, "carol", ["+14155550100"])) == {"items": []}


def test_changing_number_moves_the_opt_in(api: ApiClient) -> None:
    verify_number(api, "alice", "+14155550100")
    verify_number(api, "alice", "+14155550199")
    found = body_of(match(api, "carol", ["+14155550100", "+14155550199"]))["items"]
    assert found == [{"phone": "+14155550199", "user_id": "alice"}]


def test_bad_phone_bodies_are_400(api: ApiClient) -> None:
    for body in (
        {"phone": "12345"},
        {"phone": "020 7946 0000"},  # national: no region to read it in
        {"phone": 14155550100},
        {},
        {"phone": "+14155550100", "x": 1},
    ):
        response = api.put("/v1/me/phone", body, user="alice")
        assert response.status_code == 400, body
        assert body_of(response)["code"] == "validation_error"
    assert sent_sms() == []


def test_a_phone_book_of_national_numbers_matches_with_a_region(api: ApiClient) -> None:
    # Given bob (New York) and olivia (London) verified their numbers
    verify_number(api, "bob", "+1 212 555 0123")
    verify_number(api, "olivia", "+44 20 7946 0000")
    # When carol uploads her phone book as written, with region US
    book = ["(212) 555-0123", "+44 (0)20 7946 0000", "011 44 20 7946 0000", "020 7946 0000", "junk"]
    response = api.post("/v1/me/contacts/match", {"phones": book, "region": "US"}, user="carol")
    # Then both are found under the forms a US phone book can mean them
    assert response.status_code == 200
    assert body_of(response)["items"] == [
        {"phone": "(212) 555-0123", "user_id": "bob"},
        {"phone": "+44 (0)20 7946 0000", "user_id": "olivia"},
        {"phone": "011 44 20 7946 0000", "user_id": "olivia"},
    ]
    # And a British caller without region reads national numbers as British (her verified number)
    verify_number(api, "george", "+44 20 7946 0001")
    found = body_of(match(api, "george", ["020 7946 0000", "(212) 555-0123"]))["items"]
    assert found == [{"phone": "020 7946 0000", "user_id": "olivia"}]
    # And an unknown region is 400
    bad = api.post("/v1/me/contacts/match", {"phones": book, "region": "ZZ"}, user="carol")
    assert bad.status_code == 400


def test_matching_excludes_the_caller_and_blocks_either_way(api: ApiClient) -> None:
    # Given three opted-in users; carol blocked dave, erin blocked carol
    for user, phone in (("carol", "+14155550103"), ("dave", "+14155550104"), ("erin", "+14155550105")):
        verify_number(api, user, phone)
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
    verify_number(api, "pal", "+14155550123")
    verify_number(api, "known", "+14155550124")
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
