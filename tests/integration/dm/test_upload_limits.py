"""Attachments against moto: the daily upload quota, uploads nobody sent are swept after 24 h,
and unsending a message deletes its attachment object (every version)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core import clients, keys
from chalicelib.core.clock import now_ms
from chalicelib.core.ddb import serialize
from chalicelib.core.settings import get_settings
from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import StreamPump, befriend

GIF = {"content_type": "image/gif", "size_bytes": 9}


def _direct(api: ApiClient) -> str:
    befriend("alice", "bob")
    return str(
        body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))["conversation_id"]
    )


def _upload(api: ApiClient, body: dict[str, Any] = GIF) -> str:
    """Ask for an upload and put the object where the presigned POST would."""
    res = api.post("/v1/attachments", body, user="alice")
    assert res.status_code == 201, body_of(res)
    aid = str(body_of(res)["attachment_id"])
    clients.s3().put_object(
        Bucket=get_settings().media_bucket,
        Key=f"attachments/alice/{aid}",
        Body=b"GIF89a...",
        ContentType="image/gif",
    )
    return aid


def _versions(aid: str) -> list[Any]:
    out = clients.s3().list_object_versions(
        Bucket=get_settings().media_bucket, Prefix=f"attachments/alice/{aid}"
    )
    return [*out.get("Versions", []), *out.get("DeleteMarkers", [])]


def _send(api: ApiClient, cid: str, aid: str, cmid: str) -> Any:
    return api.post(
        f"/v1/conversations/{cid}/messages", {"client_message_id": cmid, "attachment_id": aid}, user="alice"
    )


def test_200_uploads_a_day_then_429_with_retry_after(api: ApiClient) -> None:
    # Given alice already made 199 uploads today
    day = now_ms() // 1000 // 86_400
    clients.dynamodb().put_item(
        TableName=get_settings().table_name,
        Item=serialize(
            {**keys.upload_quota("alice", day), "entity": "upload_quota", "uploads": 199, "bytes_used": 0}
        ),
    )
    # When she asks for two more
    assert api.post("/v1/attachments", GIF, user="alice").status_code == 201
    refused = api.post("/v1/attachments", GIF, user="alice")
    # Then the 201st is refused until tomorrow, and bob is not limited
    assert refused.status_code == 429 and body_of(refused)["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 86_400
    assert api.post("/v1/attachments", GIF, user="bob").status_code == 201


def test_2_gb_a_day_then_429(api: ApiClient) -> None:
    video = {"content_type": "video/mp4", "size_bytes": 50 * 1024 * 1024}
    for _ in range(40):  # 2000 MiB
        assert api.post("/v1/attachments", video, user="alice").status_code == 201
    refused = api.post("/v1/attachments", video, user="alice")
    assert refused.status_code == 429 and body_of(refused)["code"] == "rate_limited"
    # A small one still fits under 2 GiB
    assert api.post("/v1/attachments", GIF, user="alice").status_code == 201


def test_an_upload_goes_with_one_message(api: ApiClient) -> None:
    cid = _direct(api)
    aid = _upload(api)
    assert _send(api, cid, aid, "m1").status_code == 201
    again = _send(api, cid, aid, "m2")
    assert again.status_code == 400 and body_of(again)["code"] == "validation_error"
    assert _send(api, cid, aid, "m1").status_code == 200  # the original's replay still works


def test_unsending_a_message_deletes_its_attachment_object(api: ApiClient) -> None:
    # Given alice sent a message with an attachment
    cid = _direct(api)
    aid = _upload(api)
    message = body_of(_send(api, cid, aid, "m1"))
    pump = StreamPump()
    pump.pump()
    assert _versions(aid)
    # When she unsends it and the projection runs (off the request path)
    assert (
        api.delete(f"/v1/conversations/{cid}/messages/{message['message_id']}", user="alice").status_code
        == 204
    )
    pump.pump()
    # Then the object is gone, every version of it
    assert _versions(aid) == []


def test_uploads_never_sent_are_deleted_after_24_hours(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two uploads, one of which alice sent
    cid = _direct(api)
    sent, unsent = _upload(api), _upload(api)
    assert _send(api, cid, sent, "m1").status_code == 201
    from chalicelib.dm import events

    def sweep_at(offset_hours: int) -> Any:
        monkeypatch.setattr(events, "now_ms", lambda: now_ms() + offset_hours * 3_600_000)
        event = api.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        return api.client.lambda_.invoke("dm_sweep_uploads", event).payload

    # When the hourly sweeper runs within 24 hours, then after
    assert sweep_at(1) == {"deleted": 0}
    assert sweep_at(25) == {"deleted": 1}
    # Then only the unsent upload is gone; the sent one stays and a second sweep finds nothing
    assert _versions(unsent) == [] and _versions(sent)
    assert sweep_at(26) == {"deleted": 0}
    # And the unsent one can no longer be attached
    assert _send(api, cid, unsent, "m2").status_code == 400
