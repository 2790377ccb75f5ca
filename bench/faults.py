"""Bench section ``faults`` (issue 16): outbox PublishBatch calls per 100 events (small and
~70 KB, against the strict local SNS, which refuses batches over 256 KiB), and the recovery time
after a 20 s SNS outage on a fresh local stack (last ``message.sent`` on the events-tap queue -
outage end; 50 DMs sent during the outage)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from local.sms import sent_pushes

OUTAGE_S = 20.0
DMS = 50
SENDERS = 5


@dataclass
class FaultsResult:
    """What the section measured."""

    calls_small: int
    calls_70kb: int
    small_bytes: int
    big_bytes: int
    recovery_s: float
    push_recovery_s: float
    delivered: int
    duplicates: int


def _event(n: int, text: str) -> Any:
    from chalicelib.core.domain_events import DomainEvent

    return DomainEvent(
        event_id=f"evt_bench_{n:04d}_{uuid.uuid4().hex[:6]}",
        type="message.sent",
        occurred_at="2026-01-01T00:00:00.000Z",
        actor_id="alice",
        recipient_ids=[f"{i:02d}" + "u" * 126 for i in range(31)] if len(text) > 1000 else ["bob"],
        data={"conversation_id": "bench", "message": {"text": text}, "preview": text[:100]},
    )


def outbox_calls() -> tuple[int, int, int, int]:
    """(calls for 100 small events, calls for 100 ~70 KB events, their sizes in bytes)."""
    from chalicelib.notify import dal
    from chalicelib.notify.publishing import attributes_of, payload_size
    from tests.support.env import functions_environment
    from tests.support.moto import moto_server

    with moto_server() as url, functions_environment(url):
        small = [_event(n, f"hello {n}") for n in range(100)]
        big = [_event(n, "😀" * 16_500) for n in range(100)]
        counts = []
        for events in (small, big):
            publisher = dal.event_publisher()
            failed = publisher.publish(events)
            if failed:
                raise RuntimeError(f"{len(failed)} events not published")
            counts.append(publisher.calls)
        sizes = [payload_size(e.model_dump_json(), attributes_of(e)) for e in (small[0], big[0])]
    return counts[0], counts[1], sizes[0], sizes[1]


def _request(
    stack: Any, method: str, path: str, body: Any = None, user: str | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.api_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if user:
        request.add_header("Authorization", f"Bearer {stack.token(user)}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None


def recovery() -> tuple[float, float, int, int]:
    """(tap recovery s, push recovery s, events delivered, duplicates) after a 20 s SNS outage."""
    from bench.stack import local_stack
    from local.strict_aws import add_fault

    with local_stack("faults") as stack:
        run = uuid.uuid4().hex[:8]
        bob, token = f"b-bob-{run}", f"fcm-bench-{run}"
        senders = [f"b-s{n}-{run}" for n in range(SENDERS)]
        conversations: dict[str, str] = {}
        for sender in senders:
            for a, b in ((sender, bob), (bob, sender)):
                _request(stack, "PUT", f"/v1/users/{b}/follow", user=a)
            _, body = _request(stack, "POST", "/v1/conversations", {"member_ids": [bob]}, user=sender)
            conversations[sender] = body["conversation_id"]
        _request(stack, "PUT", "/v1/me/devices", {"platform": "fcm", "token": token}, user=bob)
        add_fault(stack.moto_url, "sns", "InternalError", "*", duration_s=OUTAGE_S)
        outage_end = time.monotonic() + OUTAGE_S

        def send_all(sender: str) -> None:
            for n in range(DMS // SENDERS):
                path = f"/v1/conversations/{conversations[sender]}/messages"
                _request(stack, "POST", path, {"client_message_id": f"c{n}", "text": f"{sender} {n}"}, sender)

        with ThreadPoolExecutor(max_workers=SENDERS) as pool:
            list(pool.map(send_all, senders))
        sqs = stack.session().client("sqs")
        tap = stack.overrides["EVENTS_TAP_QUEUE_URL"]
        seen: list[str] = []
        last_at = push_at = next_push_check = 0.0
        mine = set(conversations.values())
        deadline = outage_end + 120
        while time.monotonic() < deadline and not (len(set(seen)) >= DMS and push_at):
            for m in sqs.receive_message(QueueUrl=tap, MaxNumberOfMessages=10).get("Messages", []):
                event = json.loads(m["Body"])
                sqs.delete_message(QueueUrl=tap, ReceiptHandle=m["ReceiptHandle"])
                about = event.get("data", {}).get("conversation_id")
                if event.get("type") == "message.sent" and about in mine:
                    seen.append(event["event_id"])
                    last_at = time.monotonic()
            # moto's data.json is built under the server's lock: look once a second.
            if len(set(seen)) >= DMS and not push_at and time.monotonic() >= next_push_check:
                next_push_check = time.monotonic() + 1.0
                if _pushes(stack, token) >= DMS:
                    push_at = time.monotonic()
            time.sleep(0.05)
        return last_at - outage_end, push_at - outage_end, len(set(seen)), len(seen) - len(set(seen))


def _pushes(stack: Any, token: str) -> int:
    return len(sent_pushes(stack.moto_url, token))


def run() -> FaultsResult:
    """Measure both."""
    small, big, small_bytes, big_bytes = outbox_calls()
    tap_s, push_s, delivered, duplicates = recovery()
    return FaultsResult(small, big, small_bytes, big_bytes, tap_s, push_s, delivered, duplicates)


def summarise(r: FaultsResult) -> dict[str, Any]:
    """The section as plain data."""
    return dict(r.__dict__)


def render(d: dict[str, Any]) -> list[str]:
    """The section's Markdown."""
    return [
        "## 6. Nothing lost when AWS says no (issue 16)",
        "",
        "Outbox `PublishBatch` calls per 100 events through the real publisher against the strict local",
        "SNS (≤ 10 entries and ≤ 256 KiB per batch, attributes counted), and the recovery after a 20 s",
        f"SNS outage (fault rule on the local moto server) during which {DMS} DMs were sent.",
        "",
        "| Measure | Value | Target |",
        "|---|---:|---|",
        f"| PublishBatch calls / 100 small events ({d['small_bytes']} B each) | {d['calls_small']} | 10 |",
        f"| PublishBatch calls / 100 ~70 KB events ({d['big_bytes']} B each) | {d['calls_70kb']} | "
        "34 (3 per batch) |",
        f"| Recovery: last message.sent on the tap queue - outage end | {d['recovery_s']:.1f} s | |",
        f"| Recovery: last push - outage end | {d['push_recovery_s']:.1f} s | |",
        f"| Events delivered / duplicates on the tap queue | {d['delivered']} / {d['duplicates']} "
        f"| {DMS} / 0 |",
        "",
    ]
