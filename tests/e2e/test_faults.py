"""Fault tier on the real local stack: AWS says no (fault rules on the local moto server,
``local.strict_aws``) and nothing is lost, doubled or half-written.

- SNS down 20 s while 50 DMs are sent: every message.sent reaches the events-tap queue and the
  recipient's push once per event id after recovery;
- DynamoDB throttling 30 % of TransactWriteItems for 10 s while clients retry on 503: exactly
  one message per client_message_id, every 503 has Retry-After, unread counts exact;
- S3 down: a live-chat post still answers 201 and the snapshot catches up;
- a group message of 2,000 emoji to 31 members with 128-character ids is delivered, and so is
  everything sent after it (the ~71 KB events of the issue's report, four of which pass
  256 KiB, are in ``test_faults_limits.py``: the API caps text at 2,000 code points).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.sms import sent_pushes
from local.strict_aws import add_fault, clear_faults, list_faults
from tests.support.local_stack import LocalStack
from tests.support.tap import take_tap_events

pytestmark = pytest.mark.e2e

SNS_OUTAGE_S = 20.0
RECOVERY_BUDGET_S = 25.0


@pytest.fixture(autouse=True)
def no_faults_left(local_stack: LocalStack) -> Iterable[None]:
    """Every test starts and ends without fault rules (the stack is shared by the session)."""
    clear_faults(local_stack.moto_url)
    yield
    clear_faults(local_stack.moto_url)


def _friends(local_stack: LocalStack, a: str, b: str) -> None:
    for follower, followee in ((a, b), (b, a)):
        status, body, _ = local_stack.request("PUT", f"/v1/users/{followee}/follow", user=follower)
        assert status == 204, body


def _conversation(local_stack: LocalStack, owner: str, members: list[str]) -> str:
    status, body, _ = local_stack.request("POST", "/v1/conversations", {"member_ids": members}, user=owner)
    assert status in (200, 201), body
    return str(body["conversation_id"])


def _send(
    local_stack: LocalStack, user: str, conversation_id: str, client_id: str, text: str
) -> tuple[int, Any, dict[str, str]]:
    return local_stack.request(
        "POST",
        f"/v1/conversations/{conversation_id}/messages",
        {"client_message_id": client_id, "text": text},
        user=user,
    )


def _tap_events(local_stack: LocalStack, conversations: set[str]) -> list[dict[str, Any]]:
    """Events about ``conversations`` on the tap queue, each once (``tests.support.tap``)."""
    return take_tap_events(local_stack, conversations)


def _push_texts(local_stack: LocalStack, token: str) -> list[str]:
    texts = []
    for push in sent_pushes(local_stack.moto_url, token):
        message = json.loads(push["GCM"])["fcmV1Message"]["message"]
        texts.append(str(message.get("notification", {}).get("body", "")))
    return texts


def _until(condition: Callable[[], bool], timeout: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def test_sns_down_20_s_while_50_dms_are_sent_loses_nothing_and_doubles_nothing(
    local_stack: LocalStack,
) -> None:
    # Given five senders who are friends with bob, and bob's phone registered for pushes
    run = uuid.uuid4().hex[:8]
    bob, token = f"f-sns-bob-{run}", f"fcm-sns-{run}"
    senders = [f"f-sns-s{n}-{run}" for n in range(5)]
    for sender in senders:
        _friends(local_stack, sender, bob)
    status, _, _ = local_stack.request("PUT", "/v1/me/devices", {"platform": "fcm", "token": token}, user=bob)
    assert status == 201
    conversations = {s: _conversation(local_stack, s, [bob]) for s in senders}
    # When SNS is down for 20 s and 50 DMs are sent meanwhile (10 per sender: within the rate)
    add_fault(local_stack.moto_url, "sns", "InternalError", "*", duration_s=SNS_OUTAGE_S)
    outage_end = time.monotonic() + SNS_OUTAGE_S

    def send_all(sender: str) -> list[int]:
        return [
            _send(local_stack, sender, conversations[sender], f"c{n}", f"{sender} #{n}")[0] for n in range(10)
        ]

    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = [s for result in pool.map(send_all, senders) for s in result]
    assert statuses == [201] * 50  # sending never waits on SNS
    expected_texts = {f"{s} #{n}" for s in senders for n in range(10)}
    # Then after recovery every message.sent reaches the tap queue and bob's phone
    events: list[dict[str, Any]] = []
    pushed: list[str] = []

    def all_arrived() -> bool:
        fresh = _tap_events(local_stack, set(conversations.values()))
        events.extend(e for e in fresh if e["type"] == "message.sent")
        if len({e["event_id"] for e in events}) < 50:
            return False
        # moto's data.json dumps every backend under the server's lock: only once events are in.
        pushed[:] = _push_texts(local_stack, token)
        return set(pushed) >= expected_texts

    assert _until(all_arrived, SNS_OUTAGE_S + RECOVERY_BUDGET_S, step=1.0), (len(events), len(pushed))
    recovery_s = time.monotonic() - outage_end
    # And nothing was delivered twice (per event id on the tap; one push per message)
    time.sleep(1.0)
    all_arrived()
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)) == 50
    assert {e["data"]["message"]["text"] for e in events} == expected_texts
    assert sorted(pushed) == sorted(expected_texts)
    print(f"recovery after the SNS outage: {recovery_s:.1f} s")


def test_dynamodb_throttling_while_clients_retry_stores_exactly_one_message_per_client_id(
    local_stack: LocalStack,
) -> None:
    # Given four senders in conversations with bob
    run = uuid.uuid4().hex[:8]
    bob = f"f-ddb-bob-{run}"
    senders = [f"f-ddb-s{n}-{run}" for n in range(4)]
    for sender in senders:
        _friends(local_stack, sender, bob)
    conversations = {s: _conversation(local_stack, s, [bob]) for s in senders}
    # When 30 % of TransactWriteItems are throttled for 10 s while clients send and retry on 503
    add_fault(
        local_stack.moto_url,
        "dynamodb",
        "ProvisionedThroughputExceededException",
        "TransactWriteItems",
        probability=0.3,
        duration_s=10,
    )
    unavailable: list[dict[str, str]] = []

    def send_all(sender: str) -> list[int]:
        final = []
        for n in range(10):
            for _ in range(30):
                status, _, headers = _send(local_stack, sender, conversations[sender], f"t{n}", f"msg {n}")
                if status == 503:
                    unavailable.append(headers)
                if status not in (429, 503):
                    break
                time.sleep(min(2.0, float(headers.get("Retry-After", "1"))) / 2)
            final.append(status)
        return final

    with ThreadPoolExecutor(max_workers=4) as pool:
        finals = [s for result in pool.map(send_all, senders) for s in result]
    (rule,) = list_faults(local_stack.moto_url)
    assert rule["hits"] > 0  # throttling really happened
    # Then every send ended with 201 (or 200: a retry of a send that had in fact been stored)
    assert set(finals) <= {200, 201}, finals
    # And every 503 told the client when to retry
    assert all("Retry-After" in h and int(h["Retry-After"]) >= 1 for h in unavailable)
    # And exactly one message per client id, with no half-written state: bob's unread counts
    # (maintained from the stream) match the history
    for sender, cid in conversations.items():
        status, page, _ = local_stack.request("GET", f"/v1/conversations/{cid}/messages?limit=50", user=bob)
        assert status == 200, page
        client_ids = [m["client_message_id"] for m in page["items"]]
        assert sorted(client_ids) == sorted(f"t{n}" for n in range(10)), (sender, client_ids)

    def unread_exact() -> bool:
        status, inbox, _ = local_stack.request("GET", "/v1/conversations?limit=50", user=bob)
        counts = {c["conversation_id"]: c.get("unread_count") for c in inbox["items"]}
        return status == 200 and all(counts.get(cid) == 10 for cid in conversations.values())

    assert _until(unread_exact, 20)


def test_s3_down_a_chat_post_still_answers_201_and_the_snapshot_catches_up(local_stack: LocalStack) -> None:
    # Given a live stream
    run = uuid.uuid4().hex[:8]
    host, viewer = f"f-s3-host-{run}", f"f-s3-viewer-{run}"
    status, stream, _ = local_stack.request("POST", "/v1/streams", {"title": "outage"}, user=host)
    assert status == 201, stream
    stream_id = stream["stream_id"]
    # When S3 is down for 5 s and a viewer posts to the chat
    add_fault(local_stack.moto_url, "s3", "InternalError", "*", duration_s=5)
    status, message, _ = local_stack.request(
        "POST", f"/v1/streams/{stream_id}/chat", {"client_message_id": "m1", "text": "hello"}, user=viewer
    )
    # Then the post answers 201 (S3 is not on the write path)
    assert status == 201, message

    # And once S3 is back the room's snapshot has the message
    def in_snapshot() -> bool:
        status, page, _ = local_stack.request("GET", f"/v1/streams/{stream_id}/chat", user=viewer)
        return status == 200 and any(m["message_id"] == message["message_id"] for m in page["items"])

    assert _until(in_snapshot, 30, step=0.5)


def test_a_2000_emoji_group_message_to_31_long_id_members_is_delivered_and_so_is_what_follows(
    local_stack: LocalStack,
) -> None:
    # Given a group of 32 with 128-character ids (the owner and 31 members)
    run = uuid.uuid4().hex[:8]
    owner = f"f-big-owner-{run}".ljust(128, "o")
    members = [f"f-big-{n:02d}-{run}".ljust(128, "m") for n in range(31)]
    for member in members:
        _friends(local_stack, owner, member)
    cid = _conversation(local_stack, owner, members)
    # When the owner sends five messages of 2,000 emoji, then a short one
    big = "😀" * 2000
    for n in range(5):
        status, body, _ = _send(local_stack, owner, cid, f"big{n}", big)
        assert status == 201, body
    status, _, _ = _send(local_stack, owner, cid, "after", "and this one too")
    assert status == 201
    # Then all six message.sent events are published, each once
    events: list[dict[str, Any]] = []

    def arrived() -> bool:
        events.extend(e for e in _tap_events(local_stack, {cid}) if e["type"] == "message.sent")
        return len({e["event_id"] for e in events}) >= 6

    assert _until(arrived, 30, step=0.5), len(events)
    texts = sorted(e["data"]["message"]["text"] for e in events)
    assert texts == sorted([big] * 5 + ["and this one too"])
    assert all(sorted(e["recipient_ids"]) == sorted(members) for e in events)


def test_make_dlq_lists_a_parked_event_and_make_redrive_publishes_it_again(local_stack: LocalStack) -> None:
    import subprocess
    import sys

    from chalicelib.core.domain_events import DomainEvent
    from chalicelib.notify.publishing import Envelope, attributes_of, parked_attributes
    from local.stack import ROOT

    # Given an event the outbox publisher parked (SNS refused it for good)
    run = uuid.uuid4().hex[:8]
    event = DomainEvent(
        event_id=f"evt_parked_{run}",
        type="message.sent",
        occurred_at="2026-01-01T00:00:00.000Z",
        actor_id="alice",
        recipient_ids=["bob"],
        data={"conversation_id": f"c-parked-{run}", "message": {"text": "parked"}},
    )
    envelope = Envelope(event.event_id, event.type, event.model_dump_json(), attributes_of(event))
    sqs = local_stack.client("sqs")
    sqs.send_message(
        QueueUrl=local_stack.env["PARKED_EVENTS_QUEUE_URL"],
        MessageBody=envelope.message,
        MessageAttributes=parked_attributes(envelope, "InvalidParameter", "refused"),
    )
    state_dir = str(local_stack.stack.settings.state_dir)

    def dlq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "local.dlq",
                *args,
                "--state-dir",
                state_dir,
                "--function",
                "notify_publish_outbox",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # When `make dlq` lists the queue
    listed = dlq("list")
    # Then it shows the event, why it was refused, and leaves it there
    assert listed.returncode == 0, listed.stderr
    assert event.event_id in listed.stdout and "InvalidParameter" in listed.stdout
    # When `make redrive` runs
    redriven = dlq("redrive")
    # Then the event is published again (the tap queue gets it) and the queue is empty
    assert redriven.returncode == 0, redriven.stdout + redriven.stderr
    assert _until(lambda: bool(_tap_events(local_stack, {event.data["conversation_id"]})), 10)
    assert event.event_id not in dlq("list").stdout
