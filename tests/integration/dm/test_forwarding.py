"""Forwarding over HTTP (moto in-process): per-target rules, idempotency, attachments, calls."""

from __future__ import annotations

from typing import Any

from tests.conftest import ApiClient, body_of
from tests.integration.dm.support import befriend, block, count_calls


def _conversation(api: ApiClient, user: str, *others: str) -> str:
    body: dict[str, Any] = {"member_ids": list(others)}
    if len(others) > 1:
        body["title"] = "g"
    res = api.post("/v1/conversations", body, user=user)
    assert res.status_code in (200, 201), res.body
    return str(body_of(res)["conversation_id"])


def _send(api: ApiClient, cid: str, user: str, text: str) -> dict[str, Any]:
    res = api.post(f"/v1/conversations/{cid}/messages", {"client_message_id": text, "text": text}, user=user)
    assert res.status_code == 201, res.body
    return dict(body_of(res))


def _forward(api: ApiClient, user: str, source: dict[str, Any], targets: list[str], key: str) -> Any:
    body = {
        "source": {"conversation_id": source["conversation_id"], "message_id": source["message_id"]},
        "conversation_ids": targets,
    }
    return api.post("/v1/messages/forward", body, user=user, headers={"Idempotency-Key": key})


def _history(api: ApiClient, cid: str, user: str) -> list[dict[str, Any]]:
    return list(body_of(api.get(f"/v1/conversations/{cid}/messages", user=user))["items"])


def test_forward_results_mix_sent_request_and_not_allowed(api: ApiClient) -> None:
    # Given bob's message to alice, and alice's targets: a group, a request she opened to a
    # stranger, a direct conversation whose peer then blocked her, and a stranger's group
    for friend in ("bob", "carol", "erin"):
        befriend("alice", friend)
    befriend("dave", "frank")
    befriend("dave", "gina")
    source = _send(api, _conversation(api, "bob", "alice"), "bob", "look at this")
    group = _conversation(api, "alice", "carol", "erin")
    request = _conversation(api, "alice", "stranger")
    blocked = _conversation(api, "alice", "erin")
    block("erin", "alice")
    foreign = _conversation(api, "dave", "frank", "gina")
    # When alice forwards the message to all four
    res = _forward(api, "alice", source, [group, request, blocked, foreign], "fwd-1")
    # Then each target has its own outcome, in order
    assert res.status_code == 201, res.body
    results = body_of(res)["results"]
    assert [(r["conversation_id"], r["status"]) for r in results] == [
        (group, "sent"),
        (request, "request"),
        (blocked, "not_allowed"),
        (foreign, "not_allowed"),
    ]
    assert "message_id" not in results[2] and "message_id" not in results[3]
    # And the group sees a forwarded copy by alice with the same text
    copy = _history(api, group, "carol")[0]
    assert copy["message_id"] == results[0]["message_id"]
    assert copy["forwarded"] is True and copy["sender_id"] == "alice" and copy["text"] == "look at this"
    # And the request's one-message limit now applies: a second forward there is not allowed
    again = _forward(api, "alice", source, [request], "fwd-2")
    assert body_of(again)["results"] == [{"conversation_id": request, "status": "not_allowed"}]
    assert _history(api, blocked, "erin") == [] and _history(api, foreign, "dave") == []


def test_same_key_replays_and_another_body_is_422(api: ApiClient) -> None:
    befriend("alice", "bob")
    befriend("alice", "carol")
    source = _send(api, _conversation(api, "bob", "alice"), "bob", "hi")
    target = _conversation(api, "alice", "carol")
    first = _forward(api, "alice", source, [target], "k")
    again = _forward(api, "alice", source, [target], "k")
    assert again.status_code == 201 and body_of(again) == body_of(first)
    assert len(_history(api, target, "carol")) == 1
    other = _forward(api, "alice", source, [target, source["conversation_id"]], "k")
    assert other.status_code == 422 and body_of(other)["code"] == "idempotency_key_reused"
    missing = api.post("/v1/messages/forward", {"source": {}, "conversation_ids": [target]}, user="alice")
    assert missing.status_code == 400


def test_an_unseen_or_unsent_source_is_404(api: ApiClient) -> None:
    befriend("alice", "bob")
    befriend("bob", "carol")
    theirs = _send(api, _conversation(api, "bob", "carol"), "bob", "private")
    mine = _conversation(api, "alice", "bob")
    res = _forward(api, "mallory", theirs, [mine], "x")
    assert res.status_code == 404
    res = _forward(api, "alice", theirs, [mine], "y")
    assert res.status_code == 404 and body_of(res)["code"] == "not_found"
    own = _send(api, mine, "alice", "oops")
    api.delete(f"/v1/conversations/{mine}/messages/{own['message_id']}", user="alice")
    assert _forward(api, "alice", own, [mine], "z").status_code == 404


def test_validation_of_targets(api: ApiClient) -> None:
    befriend("alice", "bob")
    source = _send(api, _conversation(api, "bob", "alice"), "bob", "hi")
    cid = source["conversation_id"]
    for targets in ([], [cid, cid], [cid] * 21):
        assert _forward(api, "alice", source, targets, "v").status_code == 400
    body = {"source": {"conversation_id": cid, "message_id": source["message_id"]}, "conversation_ids": [cid]}
    assert api.post("/v1/messages/forward", body, user="alice").status_code == 400  # no Idempotency-Key


def test_forward_to_1_and_to_20_costs_the_same_few_calls(api: ApiClient) -> None:
    friends = [f"f{i:02d}" for i in range(20)]
    for friend in ["bob", *friends]:
        befriend("alice", friend)
    source = _send(api, _conversation(api, "bob", "alice"), "bob", "hi")
    targets = [_conversation(api, "alice", f) for f in friends]
    with count_calls() as one:
        assert _forward(api, "alice", source, targets[:1], "one").status_code == 201
    with count_calls() as twenty:
        res = _forward(api, "alice", source, targets, "twenty")
    assert [r["status"] for r in body_of(res)["results"]] == ["sent"] * 20
    assert len(one) <= 4 and len(twenty) <= 4 and len(one) == len(twenty), (one, twenty)
