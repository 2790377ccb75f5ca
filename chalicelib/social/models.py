"""Request and response models of the social domain."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.core.models import NextCursor, RequestModel, ResponseModel, Timestamp, UserId

DmPolicy = Literal["everyone", "friends", "no_one"]
MAX_CONTACTS_PER_REQUEST = 500


class SettingsPatch(RequestModel):
    """``PATCH /v1/me/settings``: at least one of the settings."""

    # What the validator enforces, said in JSON Schema (the spec's request body).
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "description": "At least one of the settings, not null.",
                    "anyOf": [
                        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                        for name in ("dm_policy", "push_previews", "show_activity_status")
                    ],
                }
            ]
        }
    )

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

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "description": "International form: `+`, the country code and the number.",
                    "properties": {"phone": {"pattern": "^\\+"}},
                }
            ]
        }
    )

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


class Presence(ResponseModel):
    """ "Active now" of another user, as the caller may see it."""

    active: bool = Field(
        description="Active now: an open WebSocket, or an authenticated request in the last 5 minutes. "
        "False (and `last_active_at` null) when either side turned `show_activity_status` off or a "
        "block separates them."
    )
    last_active_at: int | None = Field(ge=0, description="Epoch milliseconds of the last activity seen.")


class UserSince(ResponseModel):
    """A user in a follow or block list, and since when."""

    user_id: UserId
    since: Timestamp


class UserPage(ResponseModel):
    """One page of users, newest first."""

    items: list[UserSince]
    next_cursor: NextCursor


class Friend(Presence):
    """A friend (mutual follow) with "active now"."""

    user_id: UserId
    since: Timestamp


class FriendPage(ResponseModel):
    """One page of friends, newest first."""

    items: list[Friend]
    next_cursor: NextCursor


class PhoneVerification(ResponseModel):
    """A texted code is waiting for ``POST /v1/me/phone/verify``."""

    verification_id: str = Field(description="Send it back with the code.")
    expires_at: Timestamp


class ContactMatch(ResponseModel):
    """A phone-book number that belongs to a verified user."""

    phone: str = Field(description="The number as uploaded.")
    user_id: UserId


class ContactMatches(ResponseModel):
    """Reply of ``POST /v1/me/contacts/match``."""

    items: list[ContactMatch]


class FollowSuggestion(ResponseModel):
    """Someone to follow, and why."""

    user_id: UserId
    reason: Literal["contact", "friends_of_friends"]
    mutual_friends: int = Field(ge=0)


class FollowSuggestions(ResponseModel):
    """Reply of ``GET /v1/me/suggestions``."""

    items: list[FollowSuggestion]
