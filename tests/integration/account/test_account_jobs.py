"""Integration (moto): the ``account_jobs`` stream handler starts an erasure on the marker's
INSERT or an operator's re-drive, never on the marker's own progress updates, and builds exports."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.account import dal, logic
from chalicelib.core import keys
from chalicelib.core.ddb import serialize
from chalicelib.core.settings import TABLE_STREAM_ARN_PLACEHOLDER
from tests.conftest import ApiClient, body_of


def _record(
    name: str, new: dict[str, Any], old: dict[str, Any] | None = None, seq: str = "1"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Keys": serialize({"pk": new["pk"], "sk": new["sk"]}),
        "NewImage": serialize(new),
        "SequenceNumber": seq,
        "ApproximateCreationDateTime": 1_700_000_000,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        "SizeBytes": 100,
    }
    if old is not None:
        body["OldImage"] = serialize(old)
    return {
        "eventID": seq,
        "eventName": name,
        "eventSource": "aws:dynamodb",
        "eventSourceARN": TABLE_STREAM_ARN_PLACEHOLDER,
        "awsRegion": "us-east-1",
        "dynamodb": body,
    }


def _marker(user: str, **extra: Any) -> dict[str, Any]:
    return {
        **keys.account_deletion(user),
        "entity": "account_deletion",
        "user_id": user,
        "deletion_id": "01J",
        "status": "pending",
        "requested_at_ms": 0,
        **extra,
    }


@pytest.fixture
def no_sweep_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logic, "SWEEP_DELAY_MS", 0)


def test_the_marker_insert_erases_and_its_progress_updates_do_not(
    api: ApiClient, no_sweep_wait: None
) -> None:
    from app import app

    handler = app.handler_map["account_jobs"]
    # Given ann follows bob and deleted her account
    assert api.put("/v1/users/bob/follow", user="ann").status_code == 204
    assert api.delete("/v1/me", {"confirm": "DELETE"}, user="ann").status_code == 202
    # When a progress update of the marker arrives, nothing runs
    handler({"Records": [_record("MODIFY", _marker("ann", status="erasing"), _marker("ann"))]}, None)
    assert body_of(api.get("/v1/me", user="bob"))["followers_count"] == 1
    # When the marker's INSERT arrives, the erasure runs to the end
    stored = dal.store().deletion("ann")
    assert stored is not None
    handler({"Records": [_record("INSERT", _marker("ann", requested_at_ms=stored.requested_at_ms))]}, None)
    assert body_of(api.get("/v1/me", user="bob"))["followers_count"] == 0
    done = dal.store().deletion("ann")
    assert done is not None and done.status == "done" and done.swept
    # And a re-drive of a finished erasure changes nothing
    redrive = _record("MODIFY", _marker("ann", redrive_at="x"), _marker("ann"), seq="2")
    handler({"Records": [redrive]}, None)
    assert dal.store().deletion("ann") == done


def test_an_export_insert_builds_the_archive_and_the_status_shows_a_url(api: ApiClient) -> None:
    from app import app

    # Given cy asked for an export
    export_id = body_of(api.post("/v1/me/export", user="cy"))["export_id"]
    item = {
        **keys.account_export("cy", export_id),
        "entity": "account_export",
        "user_id": "cy",
        "export_id": export_id,
        "status": "pending",
        "requested_at_ms": 0,
    }
    # When its INSERT reaches the handler (twice: a replay)
    for _ in range(2):
        app.handler_map["account_jobs"]({"Records": [_record("INSERT", item)]}, None)
    # Then it is ready with a download URL and the archive's expiry
    view = body_of(api.get(f"/v1/me/exports/{export_id}", user="cy"))
    assert view["status"] == "ready"
    assert f"exports/cy/{export_id}.zip" in view["download_url"] and view["expires_at"]
