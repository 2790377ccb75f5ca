"""``make pay`` (``python -m local.pay``) sends a webhook the API would accept."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local import pay
from tests.support.moto import moto_server


@pytest.fixture
def receiver() -> Iterator[tuple[list[dict[str, Any]], int]]:
    """A stand-in for the local API that records webhook deliveries."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "raw": raw, "signature": self.headers["Stripe-Signature"]})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"received":true,"result":"paid"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield received, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_pay_signs_the_orders_intent_with_the_local_secret(
    receiver: tuple[list[dict[str, Any]], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from chalicelib.core import keys
    from chalicelib.core.ddb import serialize

    received, port = receiver
    with moto_server() as url:
        # Given an order stored in the local endpoint's table
        client = boto3.client(
            "dynamodb", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        client.create_table(
            TableName="socialvideo",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        order = {
            **keys.order("01ORDER"),
            "entity": "order",
            "order_id": "01ORDER",
            "amount_cents": 1998,
            "currency": "EUR",
            "payment": {"payment_intent_id": "pi_sim_01ORDER"},
        }
        client.put_item(TableName="socialvideo", Item=serialize(order))
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.delenv("TABLE_NAME", raising=False)
        # When the developer runs `make pay ORDER=01ORDER RESULT=failed`
        code = pay.main(["01ORDER", "failed", "--port", str(port)])
    # Then the local API got a Stripe Event: payment_intent.payment_failed with the PaymentIntent
    assert code == 0
    [delivery] = received
    assert delivery["path"] == "/v1/payments/webhook"
    event = json.loads(delivery["raw"])
    assert (event["object"], event["type"]) == ("event", "payment_intent.payment_failed")
    intent = event["data"]["object"]
    assert (intent["object"], intent["id"], intent["metadata"]) == (
        "payment_intent", "pi_sim_01ORDER", {"order_id": "01ORDER"},
    )  # fmt: skip
    assert (intent["amount"], intent["currency"], intent["status"]) == (
        1998,
        "eur",
        "requires_payment_method",
    )
    # And it is signed exactly as Stripe signs: the official SDK accepts it with the local secret
    import stripe

    secret = pay.stage_value("PAYMENT_WEBHOOK_SECRET").split(",")[0]
    verified = stripe.Webhook.construct_event(
        delivery["raw"].decode(), delivery["signature"], secret, tolerance=300
    )
    assert verified["id"] == event["id"]


@pytest.mark.parametrize(
    ("result", "event_type", "object_type"),
    [
        ("succeeded", "payment_intent.succeeded", "payment_intent"),
        ("canceled", "payment_intent.canceled", "payment_intent"),
        ("refunded", "charge.refunded", "charge"),
    ],
)
def test_each_result_is_the_event_stripe_would_send(result: str, event_type: str, object_type: str) -> None:
    order = {
        "order_id": "O1",
        "amount_cents": 500,
        "currency": "USD",
        "payment": {"payment_intent_id": "pi_sim_O1"},
    }
    event = pay.build_event(order, result, 1_800_000_000)
    assert (event["type"], event["data"]["object"]["object"]) == (event_type, object_type)
    obj = event["data"]["object"]
    assert obj["metadata"] == {"order_id": "O1"} and obj["currency"] == "usd"
    if object_type == "charge":
        assert (obj["payment_intent"], obj["amount_refunded"], obj["refunded"]) == ("pi_sim_O1", 500, True)
    else:
        assert obj["amount_received"] == (500 if result == "succeeded" else 0)
