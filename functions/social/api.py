"""HTTP routes of the social domain: profile and settings, follows, blocks, lists, contacts.

The routes are declared at import; the domain's logic, dal and models (pydantic, boto3) are
imported inside the handlers, on first use, so ``import app`` stays cheap (cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from functions.core.clock import now_ms
from functions.core.observability import record_event
from functions.core.settings import get_settings
from functions.core.web import Api, ApiRequest

if TYPE_CHECKING:
    from functions.social import logic
    from functions.social.models import Me, Relationship, SettingsOut

bp = Blueprint(__name__)
api = Api(bp)


@api.route("/v1/me", methods=["GET"])
def social_me(request: ApiRequest) -> Me:
    """The caller's settings and exact follow counters."""
    from functions.social import logic
    from functions.social.dal import graph
    from functions.social.models import Me

    p = logic.me(graph(), request.user_id)
    return Me(
        user_id=p.user_id,
        dm_policy=p.dm_policy,  # type: ignore[arg-type]
        push_previews=p.push_previews,
        show_activity_status=p.show_activity_status,
        followers_count=p.followers_count,
        following_count=p.following_count,
        friends_count=p.friends_count,
    )


@api.route("/v1/me/settings", methods=["PATCH"])
def social_update_settings(request: ApiRequest) -> SettingsOut:
    """Change the DM policy and/or push previews."""
    from functions.social import logic
    from functions.social.dal import graph
    from functions.social.models import SettingsOut, SettingsPatch

    body = request.body(SettingsPatch)
    settings = logic.update_settings(
        graph(), request.user_id, body.dm_policy, body.push_previews, body.show_activity_status
    )
    return SettingsOut(
        dm_policy=settings.dm_policy,  # type: ignore[arg-type]
        push_previews=settings.push_previews,
        show_activity_status=settings.show_activity_status,
    )


@api.route("/v1/users/{user_id}/follow", methods=["PUT"])
def social_follow(request: ApiRequest, user_id: str) -> None:
    """Follow ``user_id`` (204, idempotent)."""
    from functions.social import logic
    from functions.social.dal import graph

    if logic.follow(graph(), request.user_id, user_id, now_ms()):
        record_event("user_followed")


@api.route("/v1/users/{user_id}/follow", methods=["DELETE"])
def social_unfollow(request: ApiRequest, user_id: str) -> None:
    """Stop following ``user_id`` (204, idempotent)."""
    from functions.social import logic
    from functions.social.dal import graph

    logic.unfollow(graph(), request.user_id, user_id)


@api.route("/v1/users/{user_id}/block", methods=["PUT"])
def social_block(request: ApiRequest, user_id: str) -> None:
    """Block ``user_id``, removing follows both ways (204, idempotent)."""
    from functions.social import logic
    from functions.social.dal import graph

    if logic.block(graph(), request.user_id, user_id, now_ms()):
        record_event("user_blocked")


@api.route("/v1/users/{user_id}/block", methods=["DELETE"])
def social_unblock(request: ApiRequest, user_id: str) -> None:
    """Lift the caller's block on ``user_id`` (204, idempotent)."""
    from functions.social import logic
    from functions.social.dal import graph

    logic.unblock(graph(), request.user_id, user_id)


@api.route("/v1/users/{user_id}/relationship", methods=["GET"])
def social_relationship(request: ApiRequest, user_id: str) -> Relationship:
    """How the caller and ``user_id`` are connected (never reveals a block against the caller)."""
    from functions.social import logic
    from functions.social.dal import graph
    from functions.social.models import Relationship

    view = logic.relationship(graph(), request.user_id, user_id)
    return Relationship(
        following=view.following, followed_by=view.followed_by, friends=view.friends, blocked=view.blocked
    )


def _list(request: ApiRequest, kind: logic.ListKind) -> dict[str, Any]:
    from functions.social import logic
    from functions.social.dal import graph

    page = request.page()
    items, next_cursor = logic.list_page(
        graph(), get_settings().cursor_secret, request.user_id, kind, page.limit, page.cursor
    )
    return {
        "items": [{"user_id": i.user_id, "since": i.since} for i in items],
        "next_cursor": next_cursor,
    }


@api.route("/v1/me/friends", methods=["GET"])
def social_list_friends(request: ApiRequest) -> dict[str, Any]:
    """The caller's friends (mutual follows), newest first, each with ``active`` and
    ``last_active_at`` as the caller may see them (2 calls)."""
    from functions.social import presence
    from functions.social.dal import graph

    page = _list(request, "friends")
    shown = presence.statuses(
        graph(), request.user_id, [i["user_id"] for i in page["items"]], now_ms(), with_blocks=False
    )
    page["items"] = [{**i, **shown[i["user_id"]].view()} for i in page["items"]]
    return page


@api.route("/v1/me/following", methods=["GET"])
def social_list_following(request: ApiRequest) -> dict[str, Any]:
    """Whom the caller follows, newest first."""
    return _list(request, "following")


@api.route("/v1/me/followers", methods=["GET"])
def social_list_followers(request: ApiRequest) -> dict[str, Any]:
    """Who follows the caller, newest first."""
    return _list(request, "followers")


@api.route("/v1/me/blocks", methods=["GET"])
def social_list_blocks(request: ApiRequest) -> dict[str, Any]:
    """Whom the caller blocked, newest first."""
    return _list(request, "blocks")


@api.route("/v1/me/phone", methods=["PUT"], status=202)
def social_set_phone(request: ApiRequest) -> dict[str, Any]:
    """Text a 6-digit code to the number (the same 202 whether or not anyone holds it)."""
    from functions.core.ids import new_ulid
    from functions.social import logic_phone
    from functions.social.dal import sms, verifications
    from functions.social.models import PhoneBody

    body = request.body(PhoneBody)
    return logic_phone.start_verification(
        verifications(),
        sms(),
        get_settings().phone_hash_secret,
        request.user_id,
        body.phone,
        now_ms() // 1000,
        new_ulid,
    )


@api.route("/v1/me/phone/verify", methods=["POST"])
def social_verify_phone(request: ApiRequest) -> None:
    """The code texted to the number: the number becomes the caller's (204)."""
    from functions.social import logic_phone
    from functions.social.dal import verifications
    from functions.social.models import PhoneVerifyBody

    body = request.body(PhoneVerifyBody)
    logic_phone.verify(
        verifications(),
        get_settings().phone_hash_secret,
        request.user_id,
        body.verification_id,
        body.code,
        now_ms() // 1000,
    )


@api.route("/v1/me/phone", methods=["DELETE"])
def social_clear_phone(request: ApiRequest) -> None:
    """Opt out of phone discovery (idempotent)."""
    from functions.social import logic_contacts
    from functions.social.dal import graph

    logic_contacts.clear_phone(graph(), request.user_id)


@api.route("/v1/me/contacts/match", methods=["POST"])
def social_match_contacts(request: ApiRequest) -> dict[str, Any]:
    """Which of the uploaded numbers belong to opted-in users the caller may see."""
    from functions.social import logic_contacts
    from functions.social.dal import graph
    from functions.social.models import ContactsMatchBody

    body = request.body(ContactsMatchBody)
    matches = logic_contacts.match_contacts(
        graph(),
        get_settings().phone_hash_secret,
        request.user_id,
        body.phones,
        now_ms() // 1000,
        region=body.region,
    )
    return {"items": [{"phone": m.phone, "user_id": m.user_id} for m in matches]}


@api.route("/v1/me/suggestions", methods=["GET"])
def social_suggestions(request: ApiRequest) -> dict[str, Any]:
    """People to follow: contact matches first, then friends of friends."""
    from functions.social import logic_contacts
    from functions.social.dal import graph
    from functions.social.models import SuggestionsParams

    params = request.params(SuggestionsParams)
    found = logic_contacts.suggestions(graph(), request.user_id, params.limit, now_ms() // 1000)
    return {
        "items": [
            {"user_id": s.user_id, "reason": s.reason, "mutual_friends": s.mutual_friends} for s in found
        ]
    }
