"""HTTP routes of the account domain: deletion and data export (issue 20)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.web import Api, ApiRequest

bp = Blueprint(__name__)
api = Api(bp)


@api.route(
    "/v1/me",
    methods=["DELETE"],
    status=202,
    response="chalicelib.account.models:AccountDeletion",
    replies={202: "Deletion recorded; from now on the tokens get 401 `account_deleted`."},
    body="chalicelib.account.models:DeleteAccount",
    example={"confirm": "DELETE"},
)
def account_delete(request: ApiRequest) -> dict[str, str]:
    """Delete the caller's account (erased asynchronously)

    Anything but `{"confirm": "DELETE"}` → 400. See docs/privacy.md for what is erased, kept or
    pseudonymised.
    """
    from chalicelib.account import dal, logic
    from chalicelib.account.models import DeleteAccount
    from chalicelib.core.clock import now_ms
    from chalicelib.core.deleted import remember_deleted
    from chalicelib.core.ids import new_ulid

    request.body(DeleteAccount)
    now = now_ms()
    reply = logic.request_deletion(dal.store(), request.user_id, new_ulid(now), now)
    remember_deleted(request.user_id)
    return reply


@api.route(
    "/v1/me/export",
    methods=["POST"],
    status=202,
    response="chalicelib.account.models:AccountExport",
    replies={202: "Being built."},
    errors=(429,),
)
def account_export(request: ApiRequest) -> dict[str, str]:
    """Ask for an archive of the caller's data

    At most one per user per 24 h → 429 with Retry-After.
    """
    from chalicelib.account import dal, logic
    from chalicelib.core.clock import now_ms
    from chalicelib.core.ids import new_ulid

    now = now_ms()
    return logic.request_export(dal.store(), request.user_id, new_ulid(now), now)


@api.route(
    "/v1/me/exports/{export_id}",
    methods=["GET"],
    response="chalicelib.account.models:AccountExport",
    replies={200: "The export."},
    errors=(404,),
)
def account_export_status(request: ApiRequest, export_id: str) -> dict[str, Any]:
    """One of the caller's exports (a 24 h download URL once ready)"""
    from chalicelib.account import dal, logic

    return logic.export_status(dal.store(), dal.archives(), request.user_id, export_id)
