"""Request and response models of the account domain."""

from __future__ import annotations

from typing import Literal

from chalicelib.core.models import RequestModel, ResponseModel, Timestamp, Ulid, omitted


class DeleteAccount(RequestModel):
    """``DELETE /v1/me``: the user types ``DELETE`` to confirm."""

    confirm: Literal["DELETE"]


class AccountDeletion(ResponseModel):
    """A recorded account deletion."""

    deletion_id: Ulid
    status: Literal["pending", "done"]


class AccountExport(ResponseModel):
    """An export of the caller's data (a download URL once ready)."""

    export_id: Ulid
    status: Literal["pending", "ready"]
    download_url: str = omitted(min_length=1)
    expires_at: Timestamp = omitted()
