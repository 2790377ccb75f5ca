"""Phone opt-in, contact matching (quota, exclusions) and suggestions with in-memory stores."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import RateLimitedError, ValidationError
from chalicelib.social import contacts, logic
from chalicelib.social.contacts import (
    Match,
    Suggestion,
    match_contacts,
    phone_hash,
    suggestions,
)
from chalicelib.social.phones import region_of, to_e164
from tests.unit.social.fakes import FakeGraph

SECRET = "unit-phone-secret"
T0 = 1_780_000_000_000
NOW_S = 1_780_012_345  # 2026-05-28 ... UTC, some seconds after midnight
DAY = 86_400


def opt_in(store: FakeGraph, user: str, number: str, region: str | None = None) -> None:
    """A number verified by ``user`` (what a successful SMS verification leaves)."""
    e164 = to_e164(number, None)
    assert e164, number
    store.seed_phone(user, phone_hash(SECRET, e164), region or region_of(e164))


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+14155550100", None, "+14155550100"),
        ("+1 (415) 555-0100", None, "+14155550100"),
        ("+44.20.7946.0958", None, "+442079460958"),
        ("(212) 555-0123", "US", "+12125550123"),
        ("020 7946 0000", "GB", "+442079460000"),
        ("+44 (0)20 7946 0000", None, "+442079460000"),  # the national trunk 0 in brackets
        ("0044 20 7946 0000", "GB", "+442079460000"),  # GB's international prefix
        ("011 44 20 7946 0000", "US", "+442079460000"),  # the US's international prefix
        ("020 7946 0000", None, None),  # national, and no region to read it in
        ("(212) 555-0123", "GB", None),  # not a GB number
        ("+1234567", None, None),
        ("+04155550100", None, None),
        ("+1 415 ABC 0100", None, "+14152220100"),  # vanity letters are keypad digits
        ("call me", "US", None),
        ("+1" + "2" * 100, None, None),
        ("", None, None),
    ],
)
def test_numbers_are_read_as_people_write_them(raw: str, region: str | None, expected: str | None) -> None:
    assert to_e164(raw, region) == expected


def test_opting_out_hides_the_user_from_matches() -> None:
    store = FakeGraph()
    opt_in(store, "alice", "+14155550100")
    contacts.clear_phone(store, "alice")
    contacts.clear_phone(store, "alice")
    assert match_contacts(store, SECRET, "carol", ["+14155550100"], NOW_S) == []


def test_a_phone_book_of_national_numbers_matches_with_a_region() -> None:
    # Given bob (US) and olivia (GB) verified their numbers
    store = FakeGraph()
    opt_in(store, "bob", "+1 212 555 0123")
    opt_in(store, "olivia", "+44 20 7946 0000")
    book = ["(212) 555-0123", "020 7946 0000", "+44 (0)20 7946 0000", "011 44 20 7946 0000"]
    # When carol, in the US, uploads her phone book with region US
    found = match_contacts(store, SECRET, "carol", book, NOW_S, region="US")
    # Then bob's national number and olivia's international forms match (not the GB-national one)
    assert found == [
        Match("(212) 555-0123", "bob"),
        Match("+44 (0)20 7946 0000", "olivia"),
        Match("011 44 20 7946 0000", "olivia"),
    ]
    # And read with GB, the GB national number matches olivia instead
    gb = match_contacts(store, SECRET, "carol", ["020 7946 0000", "(212) 555-0123"], NOW_S, region="gb")
    assert gb == [Match("020 7946 0000", "olivia")]


def test_without_a_region_the_callers_verified_number_decides_else_international_only() -> None:
    store = FakeGraph()
    opt_in(store, "olivia", "+44 20 7946 0000")
    opt_in(store, "george", "+44 20 7946 0001")  # george's number is British
    book = ["020 7946 0000"]
    assert match_contacts(store, SECRET, "george", book, NOW_S) == [Match("020 7946 0000", "olivia")]
    assert match_contacts(store, SECRET, "nobody", book, NOW_S) == []  # no verified number


def test_an_unknown_region_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        match_contacts(FakeGraph(), SECRET, "carol", ["+14155550100"], NOW_S, region="ZZ")


def test_match_skips_invalid_numbers_and_excludes_self_and_blocks_either_way() -> None:
    # Given four opted-in users; carol blocked dave, and erin blocked carol
    store = FakeGraph()
    numbers = {
        "alice": "+14155550101",
        "carol": "+14155550103",
        "dave": "+14155550104",
        "erin": "+14155550105",
    }
    for user, number in numbers.items():
        opt_in(store, user, number)
    logic.block(store, "carol", "dave", T0)
    logic.block(store, "erin", "carol", T0)
    # When carol uploads her contacts, including junk and her own number
    uploaded = ["not a number", "+1 415 555 0101", *numbers.values(), "+19999999999"]
    found = match_contacts(store, SECRET, "carol", uploaded, NOW_S)
    # Then only alice is found (under each way the number was written), and she is remembered
    assert found == [Match("+1 415 555 0101", "alice"), Match("+14155550101", "alice")]
    assert set(store.matches) == {("carol", "alice")}
    assert store.matches[("carol", "alice")] <= NOW_S + 30 * DAY


def test_daily_quota_counts_every_submitted_number_and_says_when_to_retry() -> None:
    # Given carol submitted 1,000 numbers today (invalid ones count too)
    store = FakeGraph()
    match_contacts(store, SECRET, "carol", ["junk"] * 500, NOW_S)
    match_contacts(store, SECRET, "carol", [f"+1415555{i:04d}" for i in range(500)], NOW_S)
    # When she submits one more
    with pytest.raises(RateLimitedError) as err:
        match_contacts(store, SECRET, "carol", ["+14155550100"], NOW_S)
    # Then 429 with the seconds until UTC midnight
    assert err.value.code == "rate_limited"
    assert err.value.retry_after == DAY - NOW_S % DAY
    # And tomorrow she may submit again; other users were never limited
    assert match_contacts(store, SECRET, "carol", ["+14155550100"], NOW_S + DAY) == []
    assert match_contacts(store, SECRET, "dave", ["+14155550100"], NOW_S) == []


def test_a_request_over_the_remaining_quota_is_rejected_whole() -> None:
    # Given 600 numbers used today
    store = FakeGraph()
    match_contacts(store, SECRET, "carol", ["junk"] * 600, NOW_S)
    # When 500 more are submitted
    with pytest.raises(RateLimitedError):
        match_contacts(store, SECRET, "carol", ["junk"] * 500, NOW_S)
    # Then nothing of them was charged: 400 still fit
    assert match_contacts(store, SECRET, "carol", ["junk"] * 400, NOW_S) == []


def _friends(store: FakeGraph, a: str, b: str, at: int = T0) -> None:
    logic.follow(store, a, b, at)
    logic.follow(store, b, a, at)


def test_suggestions_put_contacts_first_then_friends_of_friends_by_mutual_count() -> None:
    # Given me with friends f1, f2, f3; x is a friend of all three, y of one, z of two
    store = FakeGraph()
    for f in ("f1", "f2", "f3"):
        _friends(store, "me", f)
    for f in ("f1", "f2", "f3"):
        _friends(store, f, "x")
    _friends(store, "f1", "y")
    _friends(store, "f1", "z")
    _friends(store, "f2", "z")
    # And a contact match "c" (also a friend of f3)
    store.matches[("me", "c")] = NOW_S + DAY
    _friends(store, "f3", "c")
    # When
    found = suggestions(store, "me", 10, NOW_S)
    # Then
    assert found == [
        Suggestion("c", "contact", 1),
        Suggestion("x", "friends_of_friends", 3),
        Suggestion("z", "friends_of_friends", 2),
        Suggestion("y", "friends_of_friends", 1),
    ]


def test_suggestions_exclude_followed_blocked_self_friends_and_expired_matches() -> None:
    # Given me's friend f has friends a (already followed by me), b (blocked me), c (I blocked), d
    store = FakeGraph()
    _friends(store, "me", "f")
    for other in ("a", "b", "c", "d"):
        _friends(store, "f", other)
    logic.follow(store, "me", "a", T0)
    logic.block(store, "b", "me", T0)
    logic.block(store, "me", "c", T0)
    # And contact matches: one expired, one of a friend, one of myself
    store.matches[("me", "old")] = NOW_S - 1
    store.matches[("me", "f")] = NOW_S + DAY
    # When
    found = suggestions(store, "me", 10, NOW_S)
    # Then only d remains
    assert found == [Suggestion("d", "friends_of_friends", 1)]


def test_suggestions_respect_the_limit_and_bound_the_work() -> None:
    # Given me has 250 friends, each with one distinct other friend
    store = FakeGraph()
    for i in range(250):
        _friends(store, "me", f"f{i:03d}", T0 + i)
        _friends(store, f"f{i:03d}", f"o{i:03d}", T0 + i)
    # When
    found = suggestions(store, "me", 5, NOW_S)
    # Then five suggestions, from at most the 200 most recent friends, checked in one batch
    assert len(found) == 5
    assert "friends_of:200" in store.calls
    assert [c for c in store.calls if c.startswith("excluded")] == ["excluded:33"]
    assert all(int(s.user_id[1:]) >= 50 for s in found)
