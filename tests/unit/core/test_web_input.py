"""Edge input rules of ``chalicelib.core.web`` that need no HTTP round trip."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import ValidationError
from chalicelib.core.web import _validate_path_params, json_depth_exceeds


@pytest.mark.parametrize(
    "value", ["a#b", "é", "٣", "a b", "\x00", "x" * 129, "", "a%C3%A9", "a/b", "a?b", 'a"b', ";", "a;b"]
)
def test_odd_path_ids_are_refused(value: str) -> None:
    # When / Then: ids are 1..128 URL-safe ASCII characters (no "#", "%", "/", "?"; no ";", which
    # urlparse cuts off as path parameters, so chalice local would route the request elsewhere)
    with pytest.raises(ValidationError):
        _validate_path_params({"user_id": value})


@pytest.mark.parametrize("value", ["alice", "01JDQ3Z5XG8V0M6K2T1R9YB4CN", "e2e-rt-a.b_c:d@e"])
def test_ordinary_path_ids_pass(value: str) -> None:
    _validate_path_params({"conversation_id": value})


def test_a_path_value_that_is_not_an_id_may_be_unicode_but_not_a_control_character() -> None:
    # Given a non-id path value (an emoji in a reaction path, say)
    _validate_path_params({"emoji": "👍🏽"})
    # Then control characters are still refused
    with pytest.raises(ValidationError):
        _validate_path_params({"emoji": "\x07"})


def test_json_depth_is_measured_without_recursion() -> None:
    # Given a document nested 100,000 levels (recursion would overflow)
    deep: list[object] = []
    current = deep
    for _ in range(100_000):
        child: list[object] = []
        current.append(child)
        current = child
    # Then
    assert json_depth_exceeds(deep, 64)
    assert not json_depth_exceeds({"a": [{"b": [1, 2]}]}, 4)
    assert json_depth_exceeds({"a": [{"b": [1, 2]}]}, 3)
    assert not json_depth_exceeds("scalar", 0)
