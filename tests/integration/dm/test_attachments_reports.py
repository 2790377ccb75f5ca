"""Attachments (presigned POST policy, HEAD on send, presigned GET) and reports."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib.core import clients
from chalicelib.core.settings import get_settings
from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import StreamPump, befriend


def _direct(api: ApiClient) -> str:
    befriend("alice", "bob")
    return str(
        body_of(api.post("/v1/conversations", {"member_ids": ["bob"]}, user="alice"))["conversation_id"]
    )


def _upload(owner: str, attachment_id: str, data: bytes, content_type: str) -> None:
    clients.s3().put_object(
        Bucket=get_settings().media_bucket,
        Key=f"attachments/{owner}/{attachment_id}",
        Body=data,
        ContentType=content_type,
    )


def _policy(upload: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(upload["fields"]["policy"])))


def test_presigned_post_policy_pins_size_type_key_and_expiry(api: ApiClient) -> None:
    # When alice asks to upload a 2048-byte PNG
    res = api.post("/v1/attachments", {"content_type": "image/png", "size_bytes": 2048}, user="alice")
    # Then the policy allows exactly that: size, type, a key under her prefix, ≤ 5 minutes
    assert res.status_code == 201
    body = body_of(res)
    upload = body["upload"]
    policy = _policy(upload)
    conditions = policy["conditions"]
    assert ["content-length-range", 2048, 2048] in conditions
    assert {"Content-Type": "image/png"} in conditions
    key = f"attachments/alice/{body['attachment_id']}"
    assert {"key": key} in conditions and upload["fields"]["key"] == key
    assert ["starts-with", "$key", "attachments/alice/"] in conditions
    from chalicelib.core.clock import ms_from_iso

    ttl_ms = ms_from_iso(policy["expiration"]) - ms_from_iso(body["expires_at"])
    assert abs(ttl_ms) < 2000
    assert upload["url"]


@pytest.mark.parametrize(
    ("content_type", "size", "status", "code"),
    [
        ("application/pdf", 10, 400, "validation_error"),
        ("image/jpeg", 10 * 1024 * 1024 + 1, 413, "payload_too_large"),
        ("video/mp4", 50 * 1024 * 1024 + 1, 413, "payload_too_large"),
        ("image/jpeg", 0, 400, "validation_error"),
    ],
)
def test_attachment_type_and_size_rules(
    api: ApiClient, content_type: str, size: int, status: int, code: str
) -> None:
    res = api.post("/v1/attachments", {"content_type": content_type, "size_bytes": size}, user="alice")
    assert res.status_code == status
    assert body_of(res)["code"] == code


def test_video_up_to_50_mb_is_allowed(api: ApiClient) -> None:
    res = api.post(
        "/v1/attachments", {"content_type": "video/mp4", "size_bytes": 50 * 1024 * 1024}, user="alice"
    )
    assert res.status_code == 201


def test_message_with_uploaded_attachment_gives_members_a_short_lived_url(api: ApiClient) -> None:
    # Given alice uploaded a JPEG through her presigned POST
    cid = _direct(api)
    att = body_of(api.post("/v1/attachments", {"content_type": "image/jpeg", "size_bytes": 4}, user="alice"))
    _upload("alice", att["attachment_id"], b"\xff\xd8\xff\xe0", "image/jpeg")
    # When she sends it
    res = api.post(
        f"/v1/conversations/{cid}/messages",
        {"client_message_id": "a1", "attachment_id": att["attachment_id"]},
        user="alice",
    )
    # Then it is an attachment message, and bob gets a presigned GET valid ≤ 15 minutes
    assert res.status_code == 201, res.body
    items = body_of(api.get(f"/v1/conversations/{cid}/messages", user="bob"))["items"]
    attachment = items[0]["attachment"]
    assert items[0]["type"] == "attachment" and items[0]["text"] is None
    assert attachment["attachment_id"] == att["attachment_id"]
    assert attachment["content_type"] == "image/jpeg" and attachment["size_bytes"] == 4
    query = parse_qs(urlparse(attachment["url"]).query)
    assert int(query["X-Amz-Expires"][0]) <= 900
    assert f"attachments/alice/{att['attachment_id']}" in attachment["url"]


def test_attachment_must_be_uploaded_and_owned_by_the_sender(api: ApiClient) -> None:
    cid = _direct(api)
    # Given an attachment never uploaded, and one uploaded by bob
    pending = body_of(
        api.post("/v1/attachments", {"content_type": "image/png", "size_bytes": 3}, user="alice")
    )
    bobs = body_of(api.post("/v1/attachments", {"content_type": "image/png", "size_bytes": 3}, user="bob"))
    _upload("bob", bobs["attachment_id"], b"png", "image/png")
    # When alice sends either; Then 400 and nothing is written
    for i, att_id in enumerate((pending["attachment_id"], bobs["attachment_id"])):
        res = api.post(
            f"/v1/conversations/{cid}/messages",
            {"client_message_id": f"x{i}", "attachment_id": att_id},
            user="alice",
        )
        assert res.status_code == 400
    assert body_of(api.get(f"/v1/conversations/{cid}/messages", user="alice"))["items"] == []


def test_report_keeps_the_message_content_after_unsend_and_emits_an_event(api: ApiClient) -> None:
    # Given bob received a hurtful message
    cid = _direct(api)
    pump = StreamPump()
    msg = body_of(
        api.post(
            f"/v1/conversations/{cid}/messages",
            {"client_message_id": "h", "text": "nasty words"},
            user="alice",
        )
    )
    # When bob reports it and alice then unsends it
    res = api.post(
        "/v1/reports",
        {
            "target_type": "message",
            "target_id": msg["message_id"],
            "conversation_id": cid,
            "reason": "harassment",
        },
        user="bob",
    )
    assert res.status_code == 201
    report_id = body_of(res)["report_id"]
    api.delete(f"/v1/conversations/{cid}/messages/{msg['message_id']}", user="alice")
    # Then the report still holds the original text
    from chalicelib.core import keys
    from chalicelib.core.ddb import deserialize, serialize

    stored = deserialize(
        clients.dynamodb().get_item(
            TableName=get_settings().table_name, Key=serialize(keys.report(report_id))
        )["Item"]
    )
    assert stored is not None and stored["evidence"]["text"] == "nasty words"
    assert stored["reporter_id"] == "bob" and stored["reason"] == "harassment"
    # And the outbox turns it into a report.created event
    from chalicelib.dm.outbox import events_from_change

    events = [e for c in pump.pump() for e in events_from_change(c, members_of=lambda _cid: ["alice", "bob"])]
    created = [e for e in events if e.type == "report.created"]
    assert len(created) == 1 and created[0].data["report_id"] == report_id


def test_only_visible_things_can_be_reported(api: ApiClient) -> None:
    cid = _direct(api)
    msg = body_of(
        api.post(f"/v1/conversations/{cid}/messages", {"client_message_id": "m", "text": "hi"}, user="alice")
    )
    cases: list[dict[str, Any]] = [
        {"target_type": "message", "target_id": msg["message_id"], "conversation_id": cid},
        {"target_type": "conversation", "target_id": cid},
        {"target_type": "stream_message", "target_id": "01J" + "0" * 23, "stream_id": "s1"},
        {"target_type": "user", "target_id": "alice", "conversation_id": cid},
    ]
    for case in cases:
        res = api.post("/v1/reports", {**case, "reason": "spam"}, user="mallory")
        assert res.status_code == 404, case
    ok = api.post("/v1/reports", {"target_type": "user", "target_id": "alice", "reason": "spam"}, user="bob")
    assert ok.status_code == 201
    bad = api.post(
        "/v1/reports", {"target_type": "user", "target_id": "alice", "reason": "boring"}, user="bob"
    )
    assert bad.status_code == 400


def test_stream_message_reports_use_the_live_lookup(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = {
        "message_id": "m1",
        "sender_id": "troll",
        "text": "spam link",
        "sent_at": "2026-01-01T00:00:00.000Z",
    }
    monkeypatch.setattr(
        "chalicelib.dm.api.find_chat_message", lambda stream_id, mid: chat if mid == "m1" else None
    )
    res = api.post(
        "/v1/reports",
        {"target_type": "stream_message", "target_id": "m1", "stream_id": "s1", "reason": "spam"},
        user="bob",
    )
    assert res.status_code == 201
