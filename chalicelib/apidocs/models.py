"""Response model of the docs routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OpenApiDocument(BaseModel):
    """The OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")
