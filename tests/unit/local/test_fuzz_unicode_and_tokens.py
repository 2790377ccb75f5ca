"""The fuzz hook that puts full-Unicode values into requests, and ``make token TTL=``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest

from local import tokens
from local.fuzz import WEBHOOK_PATH, with_unicode_value


@dataclass
class _Parameter:
    name: str
    location: str


@dataclass
class _Operation:
    path: str
    parameters: list[_Parameter]

    def iter_parameters(self) -> list[_Parameter]:
        return self.parameters


@dataclass
class _Case:
    operation: _Operation
    query: dict[str, Any] = field(default_factory=dict)
    path_parameters: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Any] = field(default_factory=dict)


def _case(path: str = "/v1/conversations/{conversation_id}/messages") -> _Case:
    operation = _Operation(
        path,
        [
            _Parameter("conversation_id", "path"),
            _Parameter("limit", "query"),
            _Parameter("Idempotency-Key", "header"),
            _Parameter("Content-Type", "header"),
        ],
    )
    return _Case(operation, query={"limit": 5}, path_parameters={"conversation_id": "c1"})


def test_a_query_value_becomes_the_unicode_text() -> None:
    case = with_unicode_value(_case(), "query", 3, "²")
    assert case.query == {"limit": "²"}


def test_a_path_value_becomes_the_unicode_text() -> None:
    case = with_unicode_value(_case(), "path_parameters", 0, "會話")
    assert case.path_parameters == {"conversation_id": "會話"}


def test_a_path_value_never_carries_url_structure() -> None:
    case = with_unicode_value(_case(), "path_parameters", 0, "a/b?c#d")
    assert case.path_parameters == {"conversation_id": "abcd"}
    assert with_unicode_value(_case(), "path_parameters", 0, "/..").path_parameters == {
        "conversation_id": "c1"
    }


def test_an_ascii_cursor_is_not_injected_but_a_unicode_one_is() -> None:
    def cursor_case() -> _Case:
        operation = _Operation("/v1/me/followers", [_Parameter("cursor", "query")])
        return _Case(operation)

    assert with_unicode_value(cursor_case(), "query", 0, "`!M").query == {}
    assert with_unicode_value(cursor_case(), "query", 0, "ё").query == {"cursor": "ё"}


def test_a_header_carries_the_texts_utf8_bytes_and_never_content_type() -> None:
    case = with_unicode_value(_case(), "headers", 1, "ключ")
    assert case.headers == {"Idempotency-Key": "ключ".encode().decode("latin-1")}


def test_no_target_or_the_webhook_leaves_the_case_alone() -> None:
    assert with_unicode_value(_case(), None, 0, "x").query == {"limit": 5}
    webhook = with_unicode_value(_case(WEBHOOK_PATH), "query", 0, "x")
    assert webhook.query == {"limit": 5}


def test_make_token_ttl_mints_a_short_lived_access_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When `make token USER=bob TTL=3` runs (python -m local.tokens bob DIR --ttl 3)
    tokens.main(["bob", str(tmp_path), "--ttl", "3"])
    token = capsys.readouterr().out.strip()
    # Then it prints an access token for bob that expires in 3 seconds
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "bob" and claims["token_use"] == "access"
    assert claims["exp"] - claims["iat"] == 3
    assert claims["exp"] <= int(time.time()) + 3


def test_make_token_refuses_a_non_positive_ttl(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        tokens.main(["bob", str(tmp_path), "--ttl", "0"])
