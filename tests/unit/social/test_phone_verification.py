"""Phone numbers verified by SMS (``logic_phone``) with in-memory stores."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.core.clock import iso_from_ms
from chalicelib.core.errors import NotFoundError, RateLimitedError, ValidationError
from chalicelib.social.contacts import Match, match_contacts, phone_hash
from chalicelib.social.logic_phone import (
    InvalidCodeError,
    start_verification,
    verify,
)
from tests.unit.social.fakes import FakeGraph, FakeSms, FakeVerifications

SECRET = "unit-phone-secret"
NOW_S = 1_780_012_345
DAY = 86_400
BOB = "+14155550100"


class World:
    def __init__(self) -> None:
        self.graph = FakeGraph()
        self.store = FakeVerifications(self.graph)
        self.sms = FakeSms()
        self._ids = (f"V{i:04d}" for i in itertools.count())

    def start(self, user: str, phone: str = BOB, now_s: int = NOW_S) -> dict[str, str]:
        return start_verification(self.store, self.sms, SECRET, user, phone, now_s, lambda: next(self._ids))

    def verify(self, user: str, vid: str, code: str, now_s: int = NOW_S) -> None:
        verify(self.store, SECRET, user, vid, code, now_s)

    def claim(self, user: str, phone: str = BOB) -> None:
        started = self.start(user, phone)
        self.verify(user, started["verification_id"], self.sms.code_to(phone.replace(" ", "")))

    def holder(self, phone: str = BOB) -> list[Match]:
        return match_contacts(self.graph, SECRET, "carol", [phone], NOW_S + 1)


def test_a_code_is_texted_and_the_right_code_makes_the_number_yours() -> None:
    w = World()
    started = w.start("bob", "+1 415 555 0100")
    assert set(started) == {"verification_id", "expires_at"}
    assert started["expires_at"] == iso_from_ms((NOW_S + 600) * 1000)  # 10 minutes
    [(number, _text)] = w.sms.sent
    assert number == BOB and len(w.sms.code_to(BOB)) == 6
    assert w.holder() == []  # not yet
    w.verify("bob", started["verification_id"], w.sms.code_to(BOB))
    assert w.holder() == [Match(BOB, "bob")]
    # The code is stored only as a keyed hash
    assert all(w.sms.code_to(BOB) not in str(v) for v in w.store.items.values())


def test_the_answer_is_the_same_whether_or_not_the_number_is_taken() -> None:
    w = World()
    w.claim("bob")
    first = w.start("mallory")
    fresh = w.start("mallory", "+14155550199")
    assert set(first) == set(fresh) == {"verification_id", "expires_at"}
    assert first["expires_at"] == fresh["expires_at"]


def test_a_verified_number_moves_to_its_new_holder_silently() -> None:
    w = World()
    w.claim("bob")
    w.claim("newbob")  # the number was recycled
    assert w.holder() == [Match(BOB, "newbob")]
    assert "bob" not in w.graph.phone_of


def test_changing_number_releases_the_old_one() -> None:
    w = World()
    w.claim("bob")
    w.claim("bob", "+14155550199")
    assert w.holder() == []
    assert w.holder("+14155550199") == [Match("+14155550199", "bob")]


def test_wrong_codes_are_400_and_the_fifth_ends_the_verification() -> None:
    w = World()
    vid = w.start("bob")["verification_id"]
    right = w.sms.code_to(BOB)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(4):
        with pytest.raises(InvalidCodeError) as err:
            w.verify("bob", vid, wrong)
        assert err.value.code == "invalid_code"
    with pytest.raises(RateLimitedError):
        w.verify("bob", vid, wrong)
    with pytest.raises(RateLimitedError):  # even the right code now
        w.verify("bob", vid, right)
    assert w.holder() == []


def test_unknown_expired_or_someone_elses_verification_is_404() -> None:
    w = World()
    vid = w.start("bob")["verification_id"]
    code = w.sms.code_to(BOB)
    with pytest.raises(NotFoundError):
        w.verify("bob", "nope", code)
    with pytest.raises(NotFoundError):
        w.verify("mallory", vid, code)
    with pytest.raises(NotFoundError):
        w.verify("bob", vid, code, now_s=NOW_S + 600)
    w.verify("bob", vid, code, now_s=NOW_S + 599)
    with pytest.raises(NotFoundError):  # used up
        w.verify("bob", vid, code)


def test_five_codes_per_user_and_per_number_per_day() -> None:
    w = World()
    for i in range(5):
        w.start("bob", f"+1415555{i:04d}")
    with pytest.raises(RateLimitedError) as err:
        w.start("bob", "+14155550777")
    assert err.value.code == "rate_limited" and err.value.retry_after == DAY - NOW_S % DAY
    # per number, whoever asks
    for i in range(5):
        w.start(f"u{i}", "+14155550888")
    with pytest.raises(RateLimitedError):
        w.start("someone", "+14155550888")
    assert len(w.sms.sent) == 10
    w.start("bob", "+14155550777", now_s=NOW_S + DAY)  # tomorrow


def test_invalid_or_national_numbers_are_validation_errors() -> None:
    w = World()
    for raw in ("555-0100", "020 7946 0000", "+1234", "call me"):
        with pytest.raises(ValidationError):
            w.start("bob", raw)
    assert w.sms.sent == []


def test_a_racing_verify_is_re_read() -> None:
    w = World()
    vid = w.start("bob")["verification_id"]
    w.store.race_claim = True
    with pytest.raises(NotFoundError):
        w.verify("bob", vid, w.sms.code_to(BOB))


def test_hashes_depend_on_the_secret() -> None:
    assert phone_hash(SECRET, BOB) != phone_hash("other-secret", BOB)
