"""Request and response models of the social domain."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from functions.core.models import RequestModel, ResponseModel

DmPolicy = Literal["everyone", "friends", "no_one"]
MAX_CONTACTS_PER_REQUEST = 500


class SettingsPatch(RequestModel):
    """``PATCH /v1/me/settings``: at least one of the settings."""

    dm_policy: DmPolicy | None = None
    push_previews: bool | None = None
    show_activity_status: bool | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> SettingsPatch:
        if self.dm_policy is None and self.push_previews is None and self.show_activity_status is None:
            raise ValueError("give at least one of dm_policy, push_previews, show_activity_status")
        return self


class PhoneBody(RequestModel):
    """``PUT /v1/me/phone``: the caller's number in international form ("+44 20 7946 0000")."""

    phone: str = Field(min_length=1, max_length=32)


class PhoneVerifyBody(RequestModel):
    """``POST /v1/me/phone/verify``: the verification and the 6-digit code texted for it."""

    verification_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=16)  # any other string is a wrong code


class ContactsMatchBody(RequestModel):
    """``POST /v1/me/contacts/match``: up to 500 numbers as written in a phone book (invalid ones
    are skipped); ``region`` (ISO 3166-1 alpha-2) reads national numbers."""

    phones: list[str] = Field(max_length=MAX_CONTACTS_PER_REQUEST)
    region: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")


class SuggestionsParams(BaseModel):
    """``GET /v1/me/suggestions?limit=`` (query values arrive as strings)."""

    limit: int = Field(default=20, ge=1, le=100)


class Me(ResponseModel):
    """``GET /v1/me``."""

    user_id: str
    dm_policy: DmPolicy
    push_previews: bool
    show_activity_status: bool
    followers_count: int
    following_count: int
    friends_count: int


class SettingsOut(ResponseModel):
    """Reply of ``PATCH /v1/me/settings``."""

    dm_policy: DmPolicy
    push_previews: bool
    show_activity_status: bool


class Relationship(ResponseModel):
    """``GET /v1/users/{user_id}/relationship`` (``blocked`` = the caller blocked them)."""

    following: bool
    followed_by: bool
    friends: bool
    blocked: bool
