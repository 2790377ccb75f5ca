"""Play the payment provider's dashboard: send a correctly signed webhook for an order.

``python -m local.pay ORDER_ID [failed] [--port PORT]`` (``make pay ORDER=<id> [RESULT=failed]``)

Reads the order's ``payment_intent_id`` from the local AWS endpoint (``AWS_ENDPOINT_URL``,
default http://127.0.0.1:4566), signs ``payment_intent.succeeded`` (or ``.payment_failed``)
with the local stage's ``PAYMENT_WEBHOOK_SECRET`` from ``.chalice/config.json`` exactly like
Stripe does, and POSTs it to http://127.0.0.1:PORT/v1/payments/webhook.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from local.stack import CONFIG, STAGE, stage_environment


def stage_value(name: str, config_path: Path = CONFIG, stage: str = STAGE) -> str:
    """A variable of the stage's environment in ``.chalice/config.json`` (stage over top level)."""
    env = stage_environment(stage, config_path)
    if name not in env:
        raise SystemExit(f"{name} is not set for stage {stage!r} in {config_path}")
    return env[name]


def payment_intent_of(order_id: str, endpoint: str, table: str, region: str) -> str:
    """The order's payment intent id, read from the local endpoint."""
    import boto3

    from functions.core import keys
    from functions.core.ddb import deserialize, serialize

    client = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        region_name=region,
    ).client("dynamodb", endpoint_url=endpoint)
    item = deserialize(client.get_item(TableName=table, Key=serialize(keys.order(order_id))).get("Item"))
    if not item or item.get("entity") != "order":
        raise SystemExit(f"order {order_id} not found in table {table} at {endpoint}")
    return str((item.get("payment") or {}).get("payment_intent_id", ""))


def build_event(order_id: str, intent_id: str, failed: bool, now_s: int) -> dict[str, Any]:
    """The provider's event body."""
    kind = "payment_failed" if failed else "succeeded"
    return {
        "id": f"evt_local_{kind}_{order_id}_{now_s}",
        "type": f"payment_intent.{kind}",
        "data": {"payment_intent_id": intent_id, "order_id": order_id},
    }


def send(url: str, secret: str, event: dict[str, Any], now_s: int) -> tuple[int, str]:
    """POST the event with its ``Payment-Signature``; returns (status, body)."""
    from functions.checkout.webhooks import sign

    raw = json.dumps(event, separators=(",", ":")).encode()
    request = urllib.request.Request(
        url,
        data=raw,
        method="POST",
        headers={"Content-Type": "application/json", "Payment-Signature": sign(secret, now_s, raw)},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, look the order up, send the webhook, print the answer."""
    parser = argparse.ArgumentParser(description="Send a signed payment webhook to the local stack.")
    parser.add_argument("order_id")
    parser.add_argument("result", nargs="?", default="succeeded", choices=["succeeded", "failed"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    table = os.environ.get("TABLE_NAME") or stage_value("TABLE_NAME")
    region = os.environ.get("AWS_DEFAULT_REGION") or stage_value("AWS_DEFAULT_REGION")
    secret = stage_value("PAYMENT_WEBHOOK_SECRET")
    now_s = int(time.time())
    intent_id = payment_intent_of(args.order_id, endpoint, table, region)
    event = build_event(args.order_id, intent_id, args.result == "failed", now_s)
    status, body = send(f"http://127.0.0.1:{args.port}/v1/payments/webhook", secret, event, now_s)
    print(f"{event['type']} for order {args.order_id} → HTTP {status} {body}")
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
