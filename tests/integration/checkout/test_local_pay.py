"""``make pay`` (``python -m local.pay``) sends a webhook the API would accept."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from functions.checkout.webhooks import verify_signature
from local import pay
from tests.support.moto import moto_server


@pytest.fixture
def receiver() -> Iterator[tuple[list[dict[str, Any]], int]]:
    """A stand-in for the local API that records webhook deliveries."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "raw": raw, "signature": self.headers["Payment-Signature"]})
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

    from functions.core import keys
    from functions.core.ddb import serialize

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
            "payment": {"payment_intent_id": "pi_sim_01ORDER"},
        }
        client.put_item(TableName="socialvideo", Item=serialize(order))
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.delenv("TABLE_NAME", raising=False)
        # When the developer runs `make pay ORDER=01ORDER RESULT=failed`
        code = pay.main(["01ORDER", "failed", "--port", str(port)])
    # Then the local API got a payment_failed event for that intent, signed like the provider would
    assert code == 0
    [delivery] = received
    assert delivery["path"] == "/v1/payments/webhook"
    event = json.loads(delivery["raw"])
    assert event["type"] == "payment_intent.payment_failed"
    assert event["data"] == {"payment_intent_id": "pi_sim_01ORDER", "order_id": "01ORDER"}
    secret = pay.stage_value("PAYMENT_WEBHOOK_SECRET")
    verify_signature(secret, delivery["signature"], delivery["raw"], int(event["id"].rsplit("_", 1)[1]))
