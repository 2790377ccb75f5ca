"""Base classes for request/response models, and the field types replies share."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema


class RequestModel(BaseModel):
    """A request body: unknown fields are rejected (no mass assignment), types are strict."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ResponseModel(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid")


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted(**kw: Any) -> Any:
    """A reply field that is absent when it does not apply (never ``null``): not required, and
    its schema is the field type's alone."""
    return Field(default=None, json_schema_extra=_no_default, **kw)


def _schema(**schema: Any) -> WithJsonSchema:
    return WithJsonSchema(schema, mode="serialization")


Ulid = Annotated[
    str,
    _schema(
        type="string",
        minLength=26,
        maxLength=26,
        pattern="^[0-9A-HJKMNP-TV-Z]{26}$",
        description="A ULID created by the server (26 Crockford base32 characters, time-ordered).",
        examples=["01JDQ3Z5XG8V0M6K2T1R9YB4CN"],
    ),
]
UserId = Annotated[
    str,
    _schema(
        type="string",
        minLength=1,
        maxLength=128,
        description="A user id (the JWT `sub`).",
        examples=["demo-bob"],
    ),
]
Timestamp = Annotated[
    str,
    _schema(
        type="string",
        format="date-time",
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
        description="ISO-8601 UTC with milliseconds.",
        examples=["2026-11-28T01:02:03.456Z"],
    ),
]
Url = Annotated[str, _schema(type="string", format="uri")]
Currency = Annotated[str, _schema(type="string", pattern="^[A-Z]{3}$")]
NextCursor = Annotated[str, Field(min_length=1)] | None
