"""Play Stripe: send a Stripe-shaped, Stripe-signed webhook event for an order.

``python -m local.pay ORDER_ID [failed|canceled|refunded] [--port PORT]``
(``make pay ORDER=<id> [RESULT=failed|canceled|refunded]``)

Reads the order (intent id, amount, currency) from the local AWS endpoint (``AWS_ENDPOINT_URL``,
default http://127.0.0.1:4566), builds the Event Stripe would send — ``payment_intent.succeeded``
(default), ``.payment_failed``, ``.canceled`` with the PaymentIntent in ``data.object``, or
``charge.refunded`` with the Charge — signs it with ``Stripe-Signature`` exactly like Stripe
does (``t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>">``, one ``v1`` per secret of the local
stage's ``PAYMENT_WEBHOOK_SECRET``), and POSTs it to http://127.0.0.1:PORT/v1/payments/webhook.
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


def order_of(order_id: str, endpoint: str, table: str, region: str) -> dict[str, Any]:
    """The stored order, read from the local endpoint."""
    import boto3

    from chalicelib.core import keys
    from chalicelib.core.ddb import deserialize, serialize

    client = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        region_name=region,
    ).client("dynamodb", endpoint_url=endpoint)
    item = deserialize(client.get_item(TableName=table, Key=serialize(keys.order(order_id))).get("Item"))
    if not item or item.get("entity") != "order":
        raise SystemExit(f"order {order_id} not found in table {table} at {endpoint}")
    return item


INTENT_EVENTS = {
    "succeeded": ("payment_intent.succeeded", "succeeded"),
    "failed": ("payment_intent.payment_failed", "requires_payment_method"),
    "canceled": ("payment_intent.canceled", "canceled"),
}


def build_event(order: dict[str, Any], result: str, now_s: int) -> dict[str, Any]:
    """The Event Stripe sends for ``result`` (its ``data.object`` as Stripe shapes it)."""
    order_id = str(order["order_id"])
    intent_id = str((order.get("payment") or {}).get("payment_intent_id", ""))
    amount, currency = int(order.get("amount_cents", 0)), str(order.get("currency", "")).lower()
    obj: dict[str, Any]
    if result in INTENT_EVENTS:
        event_type, status = INTENT_EVENTS[result]
        obj = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount if status == "succeeded" else 0,
            "currency": currency,
            "metadata": {"order_id": order_id},
            "status": status,
            "livemode": False,
        }
    else:
        event_type = "charge.refunded"
        obj = {
            "id": f"ch_sim_{order_id}",
            "object": "charge",
            "amount": amount,
            "amount_refunded": amount,
            "currency": currency,
            "metadata": {"order_id": order_id},
            "payment_intent": intent_id,
            "refunded": True,
            "livemode": False,
        }
    return {
        "id": f"evt_sim_{result}_{order_id}_{now_s}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": now_s,
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj},
    }


def stripe_signature(secrets: list[str], now_s: int, raw: bytes) -> str:
    """``t=<now>,v1=<hmac>[,v1=<hmac>…]``: Stripe signs with every active secret."""
    from chalicelib.checkout.stripe_events import sign

    return f"t={now_s}," + ",".join(sign(s, now_s, raw).split(",", 1)[1] for s in secrets)


def send(url: str, secrets: list[str], event: dict[str, Any], now_s: int) -> tuple[int, str]:
    """POST the event with its ``Stripe-Signature``; returns (status, body)."""
    raw = json.dumps(event, indent=2).encode()  # Stripe's deliveries are pretty-printed
    request = urllib.request.Request(
        url,
        data=raw,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": stripe_signature(secrets, now_s, raw),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, look the order up, send the webhook, print the answer."""
    parser = argparse.ArgumentParser(description="Send a Stripe-signed webhook event to the local stack.")
    parser.add_argument("order_id")
    parser.add_argument(
        "result", nargs="?", default="succeeded", choices=["succeeded", "failed", "canceled", "refunded"]
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    table = os.environ.get("TABLE_NAME") or stage_value("TABLE_NAME")
    region = os.environ.get("AWS_DEFAULT_REGION") or stage_value("AWS_DEFAULT_REGION")
    from chalicelib.checkout.stripe_events import secrets_of

    secrets = secrets_of(stage_value("PAYMENT_WEBHOOK_SECRET"))
    now_s = int(time.time())
    order = order_of(args.order_id, endpoint, table, region)
    event = build_event(order, args.result, now_s)
    status, body = send(f"http://127.0.0.1:{args.port}/v1/payments/webhook", secrets, event, now_s)
    print(f"{event['type']} for order {args.order_id} → HTTP {status} {body}")
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
