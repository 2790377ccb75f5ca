"""Base classes for request/response models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A request body: unknown fields are rejected (no mass assignment), types are strict."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ResponseModel(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid")
