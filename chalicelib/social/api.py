"""HTTP routes of the social domain: profile and settings, follows, blocks, lists, contacts.

The routes are declared at import; the domain's logic, dal and models (pydantic, boto3) are
imported inside the handlers, on first use, so ``import app`` stays cheap (cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib.core.clock import now_ms
from chalicelib.core.observability import record_event
from chalicelib.core.routedoc import CURSOR, LIMIT
from chalicelib.core.settings import get_settings
from chalicelib.core.web import Api, ApiRequest

if TYPE_CHECKING:
    from chalicelib.social import logic
    from chalicelib.social.models import Me, Relationship, SettingsOut

bp = Blueprint(__name__)
api = Api(bp)


@api.route(
    "/v1/me",
    methods=["GET"],
    response="chalicelib.social.models:Me",
    replies={200: "The caller."},
)
def social_me(request: ApiRequest) -> Me:
    """The caller's profile: DM policy, push previews and exact follow counters"""
    from chalicelib.social import logic
    from chalicelib.social.dal import graph
    from chalicelib.social.models import Me

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


@api.route(
    "/v1/me/settings",
    methods=["PATCH"],
    response="chalicelib.social.models:SettingsOut",
    replies={200: "The settings after the change."},
    body="chalicelib.social.models:SettingsPatch",
    example={"dm_policy": "everyone"},
)
def social_update_settings(request: ApiRequest) -> SettingsOut:
    """Change the DM policy, push previews and/or activity status

    `show_activity_status` (default true) off hides one's own "active now" and everyone else's from
    oneself (reciprocal).
    """
    from chalicelib.social import logic
    from chalicelib.social.dal import graph
    from chalicelib.social.models import SettingsOut, SettingsPatch

    body = request.body(SettingsPatch)
    settings = logic.update_settings(
        graph(), request.user_id, body.dm_policy, body.push_previews, body.show_activity_status
    )
    return SettingsOut(
        dm_policy=settings.dm_policy,  # type: ignore[arg-type]
        push_previews=settings.push_previews,
        show_activity_status=settings.show_activity_status,
    )


@api.route(
    "/v1/users/{user_id}/follow",
    methods=["PUT"],
    errors=(403, 409),
)
def social_follow(request: ApiRequest, user_id: str) -> None:
    """Follow a user (idempotent; mutual follows are friends)

    Following yourself → 400; a block either way → 403 (without saying who blocked whom).
    """
    from chalicelib.social import logic
    from chalicelib.social.dal import graph

    if logic.follow(graph(), request.user_id, user_id, now_ms()):
        record_event("user_followed")


@api.route(
    "/v1/users/{user_id}/follow",
    methods=["DELETE"],
    errors=(409,),
)
def social_unfollow(request: ApiRequest, user_id: str) -> None:
    """Unfollow a user (idempotent)"""
    from chalicelib.social import logic
    from chalicelib.social.dal import graph

    logic.unfollow(graph(), request.user_id, user_id)


@api.route(
    "/v1/users/{user_id}/block",
    methods=["PUT"],
    errors=(409,),
)
def social_block(request: ApiRequest, user_id: str) -> None:
    """Block a user (idempotent); removes follows both ways"""
    from chalicelib.social import logic
    from chalicelib.social.dal import graph

    if logic.block(graph(), request.user_id, user_id, now_ms()):
        record_event("user_blocked")


@api.route(
    "/v1/users/{user_id}/block",
    methods=["DELETE"],
    errors=(409,),
)
def social_unblock(request: ApiRequest, user_id: str) -> None:
    """Lift the caller's block (idempotent)"""
    from chalicelib.social import logic
    from chalicelib.social.dal import graph

    logic.unblock(graph(), request.user_id, user_id)


@api.route(
    "/v1/users/{user_id}/relationship",
    methods=["GET"],
    response="chalicelib.social.models:Relationship",
    replies={200: "`blocked` says only whether the CALLER blocked them."},
)
def social_relationship(request: ApiRequest, user_id: str) -> Relationship:
    """How the caller and a user are connected"""
    from chalicelib.social import logic
    from chalicelib.social.dal import graph
    from chalicelib.social.models import Relationship

    view = logic.relationship(graph(), request.user_id, user_id)
    return Relationship(
        following=view.following, followed_by=view.followed_by, friends=view.friends, blocked=view.blocked
    )


def _list(request: ApiRequest, kind: logic.ListKind) -> dict[str, Any]:
    from chalicelib.social import logic
    from chalicelib.social.dal import graph

    page = request.page()
    items, next_cursor = logic.list_page(
        graph(), get_settings().cursor_secret, request.user_id, kind, page.limit, page.cursor
    )
    return {
        "items": [{"user_id": i.user_id, "since": i.since} for i in items],
        "next_cursor": next_cursor,
    }


@api.route(
    "/v1/me/friends",
    methods=["GET"],
    response="chalicelib.social.models:FriendPage",
    replies={200: "One page."},
    params=(LIMIT, CURSOR),
)
def social_list_friends(request: ApiRequest) -> dict[str, Any]:
    """The caller's friends (mutual follows), newest first, with "active now" """
    from chalicelib.social import presence
    from chalicelib.social.dal import graph

    page = _list(request, "friends")
    shown = presence.statuses(
        graph(), request.user_id, [i["user_id"] for i in page["items"]], now_ms(), with_blocks=False
    )
    page["items"] = [{**i, **shown[i["user_id"]].view()} for i in page["items"]]
    return page


@api.route(
    "/v1/me/following",
    methods=["GET"],
    response="chalicelib.social.models:UserPage",
    replies={200: "One page."},
    params=(LIMIT, CURSOR),
)
def social_list_following(request: ApiRequest) -> dict[str, Any]:
    """Whom the caller follows, newest first"""
    return _list(request, "following")


@api.route(
    "/v1/me/followers",
    methods=["GET"],
    response="chalicelib.social.models:UserPage",
    replies={200: "One page."},
    params=(LIMIT, CURSOR),
)
def social_list_followers(request: ApiRequest) -> dict[str, Any]:
    """Who follows the caller, newest first"""
    return _list(request, "followers")


@api.route(
    "/v1/me/blocks",
    methods=["GET"],
    response="chalicelib.social.models:UserPage",
    replies={200: "One page."},
    params=(LIMIT, CURSOR),
)
def social_list_blocks(request: ApiRequest) -> dict[str, Any]:
    """Whom the caller blocked, newest first"""
    return _list(request, "blocks")


@api.route(
    "/v1/me/phone",
    methods=["PUT"],
    status=202,
    response="chalicelib.social.models:PhoneVerification",
    replies={202: "A code was texted; verify it within 10 minutes."},
    errors=(429,),
    body="chalicelib.social.models:PhoneBody",
    example={"phone": "+44 20 7946 0000"},
)
def social_set_phone(request: ApiRequest) -> dict[str, Any]:
    """Text a 6-digit code to the caller's number (it is not theirs until verified)

    The same 202 whether or not the number belongs to someone (no registration oracle). The number
    must be in international form (`+` and country code; spaces, dashes, brackets and `(0)` are
    fine) and valid. At most 5 codes per user and 5 per number per UTC day → 429 `rate_limited` with
    Retry-After. Only keyed hashes of the number and code are stored.
    """
    from chalicelib.core.ids import new_ulid
    from chalicelib.social import logic_phone
    from chalicelib.social.dal import sms, verifications
    from chalicelib.social.models import PhoneBody

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


@api.route(
    "/v1/me/phone/verify",
    methods=["POST"],
    errors=(404, 429),
    body="chalicelib.social.models:PhoneVerifyBody",
    example={"verification_id": "01JDQ7X3K5V8M2N4P6R8T0W2Y4", "code": "123456"},
)
def social_verify_phone(request: ApiRequest) -> None:
    """Enter the texted code: the number becomes the caller's

    Right code → 204, and the number is the caller's; a previous holder loses it silently (numbers
    get recycled). Wrong code → 400 `invalid_code`; unknown, expired (10 minutes) or someone else's
    verification → 404; the 5th wrong code ends it → 429.
    """
    from chalicelib.social import logic_phone
    from chalicelib.social.dal import verifications
    from chalicelib.social.models import PhoneVerifyBody

    body = request.body(PhoneVerifyBody)
    logic_phone.verify(
        verifications(),
        get_settings().phone_hash_secret,
        request.user_id,
        body.verification_id,
        body.code,
        now_ms() // 1000,
    )


@api.route(
    "/v1/me/phone",
    methods=["DELETE"],
)
def social_clear_phone(request: ApiRequest) -> None:
    """Opt out of phone discovery (idempotent)"""
    from chalicelib.social import contacts
    from chalicelib.social.dal import graph

    contacts.clear_phone(graph(), request.user_id)


@api.route(
    "/v1/me/contacts/match",
    methods=["POST"],
    response="chalicelib.social.models:ContactMatches",
    replies={200: "The matches."},
    errors=(429,),
    body="chalicelib.social.models:ContactsMatchBody",
    example={"phones": ["(212) 555-0123", "+44 (0)20 7946 0000"], "region": "US"},
)
def social_match_contacts(request: ApiRequest) -> dict[str, Any]:
    """Which numbers of a phone book belong to verified users (invalid numbers are skipped)

    Numbers as people write them: national ones are read in `region` (ISO 3166-1 alpha-2), or
    without it in the region of the caller's verified number, else only international ones (`+…`)
    are read; international prefixes (`0044`, `011 44`) and `+44 (0)20…` are understood. At most
    1,000 submitted numbers per user per day → 429. Numbers are not stored.
    """
    from chalicelib.social import contacts
    from chalicelib.social.dal import graph
    from chalicelib.social.models import ContactsMatchBody

    body = request.body(ContactsMatchBody)
    matches = contacts.match_contacts(
        graph(),
        get_settings().phone_hash_secret,
        request.user_id,
        body.phones,
        now_ms() // 1000,
        region=body.region,
    )
    return {"items": [{"phone": m.phone, "user_id": m.user_id} for m in matches]}


@api.route(
    "/v1/me/suggestions",
    methods=["GET"],
    response="chalicelib.social.models:FollowSuggestions",
    replies={200: "Suggestions."},
    params=(LIMIT,),
)
def social_suggestions(request: ApiRequest) -> dict[str, Any]:
    """People to follow: contact matches first, then friends of friends"""
    from chalicelib.social import contacts
    from chalicelib.social.dal import graph
    from chalicelib.social.models import SuggestionsParams

    params = request.params(SuggestionsParams)
    found = contacts.suggestions(graph(), request.user_id, params.limit, now_ms() // 1000)
    return {
        "items": [
            {"user_id": s.user_id, "reason": s.reason, "mutual_friends": s.mutual_friends} for s in found
        ]
    }
