"""``make dlq`` / ``make redrive``: the local dead-letter queues of a running stack.

``python -m local.dlq list`` prints every parked delivery of every ``<function>-dlq`` queue
(``infra/delivery.json``'s ``dead_letter_queue.local_name``) without consuming it.
``python -m local.dlq redrive [--function NAME]`` gives each one another try and deletes it
from the queue once it succeeded:

- an event the outbox publisher parked (SNS refused it) is published to the events topic again;
- a stream batch the pump gave up on is replayed to the function (the records travel in the
  parked message locally; in AWS the destination holds only the sequence-number range);
- an SNS-invoked (async) delivery is re-invoked with its ``requestPayload``;
- a message an SQS redrive policy moved is sent back to its source queue.

Both find the running stack's AWS endpoint and settings in ``.local/stack-env.json`` (written by
``make run``); ``--state-dir`` points elsewhere.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import delivery
from local.stack import ROOT, EndpointSession

PARKED_EVENT = "events-outbox"


@dataclass(frozen=True)
class Parked:
    """One message of a dead-letter queue."""

    queue: str
    function: str
    message: dict[str, Any]

    @property
    def attributes(self) -> dict[str, str]:
        """String message attributes."""
        raw = self.message.get("MessageAttributes", {})
        return {k: str(v.get("StringValue", "")) for k, v in raw.items()}

    @property
    def body(self) -> Any:
        """The body, parsed when it is JSON."""
        text = self.message.get("Body", "")
        try:
            return json.loads(text)
        except ValueError:
            return text

    @property
    def kind(self) -> str:
        """``event`` (outbox), ``stream`` (batch), ``async`` (SNS invocation) or ``message``."""
        if self.attributes.get("parked_from") == PARKED_EVENT:
            return "event"
        body = self.body
        if isinstance(body, dict) and "DDBStreamBatchInfo" in body:
            return "stream"
        if isinstance(body, dict) and "requestPayload" in body:
            return "async"
        return "message"

    def summary(self) -> str:
        """One line for ``make dlq``."""
        a, body = self.attributes, self.body
        if self.kind == "event":
            return (
                f"event {a.get('event_id')} ({a.get('event_type')}) refused by SNS: "
                f"{a.get('error_code')} {a.get('error_message')}"
            )
        if self.kind in ("stream", "async"):
            context, error = body.get("requestContext", {}), body.get("responsePayload", {})
            where = ""
            if self.kind == "stream":
                info = body["DDBStreamBatchInfo"]
                where = (
                    f" records {info['startSequenceNumber']}..{info['endSequenceNumber']}"
                    f" ({info['batchSize']}){'' if 'localRecords' in body else ' [range only]'}"
                )
            return (
                f"{self.kind} delivery{where}: {context.get('condition')} after "
                f"{context.get('approximateInvokeCount')} attempts: {error.get('errorType')}: "
                f"{error.get('errorMessage')}"
            )
        return f"message from {a.get('source_queue', '?')}: {str(self.message.get('Body', ''))[:120]}"


def _function_of(queue_name: str) -> str | None:
    template = str(delivery.load().get("dead_letter_queue", {}).get("local_name", "{function}-dlq"))
    before, _, after = template.partition("{function}")
    match = re.fullmatch(re.escape(before) + r"(.+)" + re.escape(after), queue_name)
    return match.group(1) if match else None


def dead_letter_queues(sqs: Any) -> dict[str, str]:
    """Queue URL → function name of every local dead-letter queue."""
    queues: dict[str, str] = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        function = _function_of(url.rsplit("/", 1)[-1])
        if function:
            queues[url] = function
    return queues


def parked(sqs: Any, url: str, function: str, hold_s: int = 30) -> Iterator[Parked]:
    """Every message of the queue; each stays hidden ``hold_s`` s unless the caller deletes it
    (``list`` makes them visible again at once)."""
    while True:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=hold_s,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return
        for message in messages:
            yield Parked(url.rsplit("/", 1)[-1], function, message)


def list_parked(session: Any) -> list[Parked]:
    """Every parked delivery (left in its queue)."""
    sqs = session.client("sqs")
    found: list[Parked] = []
    for url, function in sorted(dead_letter_queues(sqs).items()):
        items = list(parked(sqs, url, function))
        for item in items:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=item.message["ReceiptHandle"], VisibilityTimeout=0
            )
        found += items
    return found


def redrive_one(item: Parked, session: Any, handlers: dict[str, Any], env: dict[str, str]) -> bool:
    """Give one parked delivery another try; True when it went through."""
    from local.pump import LambdaContext, failed_identifiers

    body = item.body
    if item.kind == "event":
        attributes = json.loads(item.attributes.get("sns_attributes") or "{}")
        session.client("sns").publish(
            TopicArn=env["EVENTS_TOPIC_ARN"], Message=item.message["Body"], MessageAttributes=attributes
        )
        return True
    if item.kind == "message":
        source = item.attributes.get("source_queue")
        if not source:
            return False
        session.client("sqs").send_message(QueueUrl=source, MessageBody=item.message["Body"])
        return True
    handler = handlers.get(item.function)
    if handler is None:
        print(f"  no handler {item.function} in the app", file=sys.stderr)
        return False
    if item.kind == "stream":
        if "localRecords" not in body:
            return False
        event = {"Records": body["localRecords"]}
    else:
        event = body["requestPayload"]
    try:
        result = handler(event, LambdaContext(item.function))
    except Exception as err:
        print(f"  {item.function} raised again: {type(err).__name__}: {err}", file=sys.stderr)
        return False
    return not failed_identifiers(result)


def _stack_env(state_dir: Path) -> dict[str, str]:
    path = state_dir / "stack-env.json"
    if not path.exists():
        raise SystemExit(f"{path} not found: is `make run` running? (or pass --state-dir)")
    env: dict[str, str] = json.loads(path.read_text())
    return env


def main(argv: list[str] | None = None) -> int:
    """``list`` or ``redrive``."""
    parser = argparse.ArgumentParser(description="The local dead-letter queues: list, redrive.")
    parser.add_argument("command", choices=["list", "redrive"])
    parser.add_argument("--function", help="only this function's queue")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local")
    args = parser.parse_args(argv)
    env = _stack_env(args.state_dir)
    session = EndpointSession(env["AWS_ENDPOINT_URL"])
    items = [p for p in list_parked(session) if not args.function or p.function == args.function]
    if args.command == "list":
        if not items:
            print("no parked deliveries")
        for item in items:
            print(f"{item.queue}: {item.summary()}")
        return 0
    # Redrive runs the handlers here, with the stack's settings and AWS endpoint.
    from local.stack import FAKE_CREDENTIALS, apply_stage_environment

    apply_stage_environment({**FAKE_CREDENTIALS, **env})
    import app as chalice_app

    handlers = dict(chalice_app.app.handler_map)
    sqs = session.client("sqs")
    done = 0
    for item in items:
        ok = redrive_one(item, session, handlers, env)
        if ok:
            sqs.delete_message(
                QueueUrl=_queue_url(sqs, item.queue), ReceiptHandle=item.message["ReceiptHandle"]
            )
            done += 1
        print(f"{'redriven' if ok else 'still failing'}: {item.queue}: {item.summary()}")
    print(f"{done} of {len(items)} parked deliveries went through")
    return 0 if done == len(items) else 1


def _queue_url(sqs: Any, name: str) -> str:
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


if __name__ == "__main__":
    sys.exit(main())
