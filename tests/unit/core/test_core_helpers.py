"""Cursors, ULIDs, timestamps and the attribute-value codec that every domain relies on."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chalicelib.core.clock import iso_from_ms, ms_from_iso
from chalicelib.core.cursor import decode_cursor, encode_cursor
from chalicelib.core.ddb import deserialize, serialize
from chalicelib.core.errors import InvalidCursorError, ValidationError
from chalicelib.core.ids import is_ulid, new_ulid, ulid_time_ms
from chalicelib.core.web import ApiRequest, Page


def test_cursor_round_trips_for_its_caller_and_listing() -> None:
    # Given a cursor issued to alice for her followers listing
    cursor = encode_cursor("s3cret-key", "alice", "followers", {"pk": "USER#alice", "sk": "X"})
    # When she sends it back / Then she gets the position
    assert decode_cursor("s3cret-key", "alice", "followers", cursor) == {"pk": "USER#alice", "sk": "X"}


@pytest.mark.parametrize(
    ("caller", "listing", "mutate"),
    [
        ("bob", "followers", lambda c: c),  # someone else's cursor
        ("alice", "following", lambda c: c),  # another listing's cursor
        ("alice", "followers", lambda c: "A" + c[1:]),  # tampered payload
        ("alice", "followers", lambda c: c[:-2] + "AA"),  # tampered signature
        ("alice", "followers", lambda c: "garbage"),
        ("alice", "followers", lambda c: "%%%.%%%"),
    ],
)
def test_foreign_or_tampered_cursor_is_rejected(caller: str, listing: str, mutate: object) -> None:
    cursor = encode_cursor("s3cret-key", "alice", "followers", {"pk": "USER#alice", "sk": "X"})
    with pytest.raises(InvalidCursorError):
        decode_cursor("s3cret-key", caller, listing, mutate(cursor))  # type: ignore[operator]


def test_ulids_sort_by_creation_time_and_are_unique() -> None:
    ids = [new_ulid() for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(is_ulid(i) for i in ids)


def test_ulid_at_a_given_time_encodes_that_time() -> None:
    assert ulid_time_ms(new_ulid(at_ms=1_764_000_000_123)) == 1_764_000_000_123


def test_timestamps_are_iso_utc_with_milliseconds() -> None:
    assert iso_from_ms(1_795_827_723_456) == "2026-11-28T01:02:03.456Z"
    assert ms_from_iso("2026-11-28T01:02:03.456Z") == 1_795_827_723_456


def test_attribute_value_codec_round_trips() -> None:
    item = {"s": "x", "n": 5, "f": 1.5, "b": True, "l": [1, "a"], "m": {"k": None}, "ss": {"a", "b"}}
    assert deserialize(serialize(item)) == item


def _request(**query: str) -> ApiRequest:
    return ApiRequest(SimpleNamespace(query_params=query or None, headers={}), "alice", 1024)


def test_page_defaults_to_twenty_and_bounds_the_limit() -> None:
    assert _request().page() == Page(limit=20, cursor=None)
    assert _request(limit="100", cursor="c").page() == Page(limit=100, cursor="c")
    for bad in ("0", "101", "-1", "x"):
        with pytest.raises(ValidationError):
            _request(limit=bad).page()
