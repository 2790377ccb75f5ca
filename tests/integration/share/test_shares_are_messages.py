"""Shares are messages: per recipient a share meets exactly what a DM from the sharer would
(request limit, blocks, no_one), and it counts in the sharer's DM rate window."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core import keys
from chalicelib.core.clock import ms_from_iso
from tests.conftest import ApiClient, body_of
from tests.integration.share.world import befriend, block, get_item, messages_in, publish, set_dm_policy


def share(api: ApiClient, recipients: list[str], key: str, *, user: str = "mallory") -> Any:
    """POST a share of v1 with its own Idempotency-Key."""
    return api.post(
        "/v1/videos/v1/shares",
        {"recipient_ids": recipients, "note": "x" * 500},
        user=user,
        headers={"Idempotency-Key": key},
    )


def requests_folder(api: ApiClient, user: str) -> list[dict[str, Any]]:
    """The user's requests folder."""
    return list(body_of(api.get("/v1/conversations?folder=requests", user=user))["items"])


def test_five_shares_from_a_stranger_leave_exactly_one_message_in_the_requests_folder(
    api: ApiClient,
) -> None:
    # Given mallory, a stranger to victor (default `friends` policy)
    publish(api, "v1")
    # When mallory shares five times with new Idempotency-Keys
    bodies = [body_of(share(api, ["victor"], f"k{n}")) for n in range(5)]
    # Then the first is a request, the others are not allowed, with no reason given
    statuses = [b["results"][0]["status"] for b in bodies]
    assert statuses == ["request", "not_allowed", "not_allowed", "not_allowed", "not_allowed"]
    assert all(b["results"][0] == {"recipient_id": "victor", "status": "not_allowed"} for b in bodies[1:])
    # And exactly one message sits in victor's single request conversation
    cid = bodies[0]["results"][0]["conversation_id"]
    assert len(messages_in(cid)) == 1
    [folder_entry] = requests_folder(api, "victor")
    assert folder_entry["conversation_id"] == cid
    # And a DM from mallory afterwards is refused too: the share used the one request message
    dm = api.post(
        f"/v1/conversations/{cid}/messages", {"client_message_id": "m1", "text": "hi"}, user="mallory"
    )
    assert dm.status_code == 403
    assert len(messages_in(cid)) == 1


def test_a_dm_request_uses_the_allowance_so_a_later_share_is_not_allowed(api: ApiClient) -> None:
    # Given mallory opened a request to victor and sent the one message a request allows
    publish(api, "v1")
    conv = body_of(api.post("/v1/conversations", {"member_ids": ["victor"]}, user="mallory"))
    cid = conv["conversation_id"]
    sent = api.post(
        f"/v1/conversations/{cid}/messages", {"client_message_id": "m1", "text": "hi"}, user="mallory"
    )
    assert sent.status_code == 201
    # When she shares a video with him
    body = body_of(share(api, ["victor"], "k"))
    # Then it is not allowed and nothing more is written
    assert body["results"] == [{"recipient_id": "victor", "status": "not_allowed"}]
    assert len(messages_in(cid)) == 1
    assert body["share_count"] == 0


def test_after_the_recipient_accepts_shares_reach_the_inbox(api: ApiClient) -> None:
    publish(api, "v1")
    first = body_of(share(api, ["victor"], "k1"))["results"][0]
    cid = first["conversation_id"]
    assert api.post(f"/v1/conversations/{cid}/accept", {}, user="victor").status_code == 200
    again = body_of(share(api, ["victor"], "k2"))["results"][0]
    assert again["status"] == "sent" and again["conversation_id"] == cid
    assert len(messages_in(cid)) == 2
    member = get_item(keys.member(cid, "mallory"))
    assert member and member["sent_count"] == 2


def test_a_pending_request_from_the_recipient_must_be_accepted_before_sharing_back(api: ApiClient) -> None:
    # Given victor sent mallory a request she has not accepted
    publish(api, "v1")
    cid = body_of(api.post("/v1/conversations", {"member_ids": ["mallory"]}, user="victor"))[
        "conversation_id"
    ]
    # When she shares to him
    body = body_of(share(api, ["victor"], "k"))
    # Then, as a DM reply would, it is not allowed
    assert body["results"] == [{"recipient_id": "victor", "status": "not_allowed"}]
    assert messages_in(cid) == []


@pytest.mark.parametrize("refusal", ["blocked_by", "blocker", "no_one"])
def test_blocks_and_no_one_refuse_in_an_existing_conversation(api: ApiClient, refusal: str) -> None:
    publish(api, "v1")
    befriend("mallory", "victor")
    cid = body_of(share(api, ["victor"], "k1"))["results"][0]["conversation_id"]
    if refusal == "blocked_by":
        block("victor", "mallory")
    elif refusal == "blocker":
        block("mallory", "victor")
    else:
        set_dm_policy("victor", "no_one")
    body = body_of(share(api, ["victor"], "k2"))
    assert body["results"] == [{"recipient_id": "victor", "status": "not_allowed"}]
    assert len(messages_in(cid)) == 1


def test_shares_count_in_the_sharers_dm_rate_window(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a frozen clock (one rate window) and ten friends of mallory
    from chalicelib.share import api as share_api

    monkeypatch.setattr(share_api, "now_ms", lambda: ms_from_iso("2026-11-28T01:00:00.100Z"))
    publish(api, "v1")
    friends = [f"f{i}" for i in range(10)]
    for f in friends:
        befriend("mallory", f)
    # When she shares to all ten (the window's burst), then once more
    assert share(api, friends, "k1").status_code == 201
    refused = share(api, ["f0"], "k2")
    # Then the next share waits like a DM would: 429 rate_limited with Retry-After, nothing written
    assert refused.status_code == 429
    assert body_of(refused)["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert get_item(keys.share_idempotency("mallory", "v1", "k2")) is None
    assert body_of(api.get("/v1/videos/v1", user="mallory"))["share_count"] == 10
