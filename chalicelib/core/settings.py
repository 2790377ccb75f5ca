"""Typed settings, read once per container from the environment.

Only this module reads ``os.environ``. Logic receives values, never the environment.

A plain frozen dataclass with explicit checks (not a pydantic model): every route module imports
this one, and ``import app`` must not pay for pydantic (cold start, issue 11).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Literal, cast

# Resource names the Chalice event handlers subscribe to at import/package time. They must match
# ``infra/template.yaml`` (the ``Prefix`` parameter's default).
RESOURCE_PREFIX = "socialvideo"
EVENTS_TOPIC_NAME = f"{RESOURCE_PREFIX}-events"
VIDEO_EVENTS_TOPIC_NAME = f"{RESOURCE_PREFIX}-video-events"
# Placeholder stream ARN for ``on_dynamodb_record``: the packaged template replaces it with
# ``Fn::GetAtt [Table, StreamArn]``; locally the event pump reads the table's real stream.
TABLE_STREAM_ARN_PLACEHOLDER = (
    "arn:aws:dynamodb:us-east-1:123456789012:table/socialvideo/stream/2026-01-01T00:00:00.000"
)

PAYMENT_PROVIDERS = ("simulator", "stripe")
_SECRETS = ("cursor_secret", "phone_hash_secret", "payment_webhook_secret")
SECRET_MIN_LENGTH = 8


class SettingsError(ValueError):
    """A setting has an invalid value (the container refuses to start rather than run on it)."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting the functions use, validated once."""

    stage: str = "local"
    region: str = "us-east-1"
    table_name: str = "socialvideo"
    media_bucket: str = "socialvideo-media"
    events_topic_arn: str = ""
    # The SQS queue the outbox publisher parks events SNS refused for good in (its DLQ).
    parked_events_queue_url: str = ""
    # Public base URL under which live-chat snapshots are served (a CDN in AWS).
    snapshot_base_url: str = ""

    auth_issuer: str = "https://auth.local.socialvideo"
    auth_audience: str = "socialvideo-local"
    auth_jwks_url: str = ""
    auth_jwks_file: str = ""

    # Local-stage defaults only: every deployed stage sets these from the environment.
    cursor_secret: str = "local-cursor-secret"  # noqa: S105
    phone_hash_secret: str = "local-phone-secret"  # noqa: S105
    payment_webhook_secret: str = "local-webhook-secret"  # noqa: S105
    payment_provider: Literal["simulator", "stripe"] = "simulator"
    stripe_api_key: str = ""
    stripe_api_base: str = ""

    apns_platform_application_arn: str = ""
    gcm_platform_application_arn: str = ""

    websocket_url: str = ""
    websocket_management_url: str = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, str):
                raise SettingsError(f"Setting {f.name} must be a string, not {type(value).__name__}.")
        for name in _SECRETS:
            if len(getattr(self, name)) < SECRET_MIN_LENGTH:
                raise SettingsError(f"Setting {name} must be at least {SECRET_MIN_LENGTH} characters long.")
        if self.payment_provider not in PAYMENT_PROVIDERS:
            raise SettingsError(
                f"Setting payment_provider must be one of {', '.join(PAYMENT_PROVIDERS)}, "
                f"not {self.payment_provider!r}."
            )


# Environment variable of each setting: its field name in upper case (``table_name`` → ``TABLE_NAME``),
# except the region, which Lambda provides as ``AWS_DEFAULT_REGION`` (or ``AWS_REGION``).
_ENV = {f.name: f.name.upper() for f in fields(Settings)} | {"region": "AWS_DEFAULT_REGION"}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read and validate settings once per container (tests call ``cache_clear``)."""
    values = {field: os.environ[env] for field, env in _ENV.items() if os.environ.get(env)}
    if "region" not in values and os.environ.get("AWS_REGION"):
        values["region"] = os.environ["AWS_REGION"]
    # ``payment_provider`` is checked against its Literal in ``__post_init__``.
    return Settings(**cast("dict[str, Any]", values))
