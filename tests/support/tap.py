"""The session's ``-events-tap`` queue (every published event), read by e2e tests.

The queue is shared by every test of the session, and a session can publish thousands of events
(the account-deletion test alone sends 1,000 messages). Walking the queue and making other tests'
messages visible again never ends once a walk takes longer than the visibility timeout, so the
queue is drained instead: every message read is deleted and kept here until a test takes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from chalicelib.core.domain_events import CLAIM_CHECK

# queue URL → events read off the queue and not taken by a test yet
_UNTAKEN: dict[str, list[dict[str, Any]]] = {}


def take_tap_events(local_stack: Any, conversations: Iterable[str]) -> list[dict[str, Any]]:
    """Events about ``conversations`` published since the last take (claim checks resolved);
    each event is returned once."""
    sqs, s3 = local_stack.client("sqs"), local_stack.client("s3")
    url = local_stack.env["EVENTS_TAP_QUEUE_URL"]
    buffer = _UNTAKEN.setdefault(url, [])
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if not messages:
            break
        for m in messages:
            event = json.loads(m["Body"])
            if CLAIM_CHECK in event:
                check = event[CLAIM_CHECK]
                event = json.loads(s3.get_object(Bucket=check["bucket"], Key=check["key"])["Body"].read())
            buffer.append(event)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    wanted = set(conversations)
    mine = [e for e in buffer if e.get("data", {}).get("conversation_id") in wanted]
    buffer[:] = [e for e in buffer if e.get("data", {}).get("conversation_id") not in wanted]
    return mine
