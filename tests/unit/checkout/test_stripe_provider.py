"""The Stripe adapter speaks Stripe's API: checked against a local stub of api.stripe.com."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.checkout.payments import SimulatorProvider, StripeProvider, provider_from_settings
from chalicelib.core.errors import UnavailableError
from chalicelib.core.settings import Settings


class StubStripe:
    """Records requests; answers like Stripe (or with an error status)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200


@pytest.fixture
def stub() -> Iterator[tuple[StubStripe, str]]:
    state = StubStripe()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append({"path": self.path, "headers": dict(self.headers), "form": {}})
            intent_id = self.path.rsplit("/", 1)[1]
            known = intent_id == "pi_123"
            body: dict[str, Any] = (
                {"id": "pi_123", "object": "payment_intent", "metadata": {"order_id": "01ORDER"}}
                if known
                else {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                "message": f"No such payment_intent: '{intent_id}'"}}
            )  # fmt: skip
            status = state.status if state.status != 200 else (200 if known else 404)
            if state.status != 200:
                body = {"error": {"type": "api_error", "message": "down"}}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            state.requests.append({"path": self.path, "headers": dict(self.headers), "form": form})
            body: dict[str, Any]
            if state.status != 200:
                body = {"error": {"type": "api_error", "message": "down"}}
            elif self.path == "/v1/refunds":
                body = {
                    "id": "re_123", "object": "refund", "amount": int(form.get("amount", ["0"])[0]),
                    "payment_intent": form.get("payment_intent", [""])[0], "status": "succeeded",
                }  # fmt: skip
            else:
                body = {
                    "id": "pi_123", "object": "payment_intent", "client_secret": "pi_123_secret_abc",
                    "amount": int(form.get("amount", ["0"])[0]), "currency": form.get("currency", [""])[0],
                    "status": "requires_payment_method",
                }  # fmt: skip
            payload = json.dumps(body).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_intent_is_created_for_the_amount_with_the_order_id_as_idempotency_key(
    stub: tuple[StubStripe, str],
) -> None:
    # Given the adapter pointed at the stub
    state, base = stub
    provider = StripeProvider("sk_test_123", base, max_network_retries=0)
    # When it creates the intent of an order
    intent = provider.create_intent(
        order_id="01ORDER", amount_cents=1998, currency="EUR", metadata={"stream_id": "s1"}
    )
    # Then Stripe got one POST /v1/payment_intents with the amount, currency, key and metadata
    assert (intent.provider, intent.payment_intent_id, intent.client_secret) == (
        "stripe", "pi_123", "pi_123_secret_abc",
    )  # fmt: skip
    [request] = state.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert request["path"] == "/v1/payment_intents"
    assert headers["idempotency-key"] == "01ORDER"
    assert headers["authorization"] == "Bearer sk_test_123"
    assert request["form"]["amount"] == ["1998"]
    assert request["form"]["currency"] == ["eur"]
    assert request["form"]["metadata[order_id]"] == ["01ORDER"]
    assert request["form"]["metadata[stream_id]"] == ["s1"]


def test_a_stripe_outage_is_a_retryable_503(stub: tuple[StubStripe, str]) -> None:
    state, base = stub
    state.status = 500
    with pytest.raises(UnavailableError):
        StripeProvider("sk_test_123", base, max_network_retries=0).create_intent(
            order_id="01ORDER", amount_cents=100, currency="USD", metadata={}
        )


def test_cancelling_an_intent_posts_to_its_cancel_endpoint(stub: tuple[StubStripe, str]) -> None:
    state, base = stub
    StripeProvider("sk_test_123", base, max_network_retries=0).cancel_intent("pi_123")
    assert [r["path"] for r in state.requests] == ["/v1/payment_intents/pi_123/cancel"]


def test_a_refund_posts_the_intent_and_amount_with_a_refund_idempotency_key(
    stub: tuple[StubStripe, str],
) -> None:
    # Given the adapter pointed at the stub
    state, base = stub
    provider = StripeProvider("sk_test_123", base, max_network_retries=0)
    # When it refunds an order's intent
    refund_id = provider.refund("pi_123", 1998, idempotency_key="01ORDER")
    # Then Stripe got one POST /v1/refunds for the intent and amount, keyed by the order
    assert refund_id == "re_123"
    [request] = state.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert request["path"] == "/v1/refunds"
    assert headers["idempotency-key"] == "refund-01ORDER"
    assert headers["authorization"] == "Bearer sk_test_123"
    assert request["form"]["payment_intent"] == ["pi_123"]
    assert request["form"]["amount"] == ["1998"]


def test_a_stripe_outage_during_a_refund_is_a_retryable_503(stub: tuple[StubStripe, str]) -> None:
    state, base = stub
    state.status = 500
    with pytest.raises(UnavailableError):
        StripeProvider("sk_test_123", base, max_network_retries=0).refund(
            "pi_123", 100, idempotency_key="01ORDER"
        )


def test_the_stage_picks_its_provider() -> None:
    assert isinstance(provider_from_settings(Settings(payment_provider="simulator")), SimulatorProvider)
    stripe_settings = Settings(
        payment_provider="stripe", stripe_api_key="sk_test_1", stripe_api_base="http://x"
    )
    assert isinstance(provider_from_settings(stripe_settings), StripeProvider)
    simulator = SimulatorProvider("secret-123")
    first = simulator.create_intent(order_id="O1", amount_cents=1, currency="USD", metadata={})
    assert first == simulator.create_intent(order_id="O1", amount_cents=1, currency="USD", metadata={})
    assert simulator.refund(first.payment_intent_id, 1, idempotency_key="O1") == "re_sim_O1"


def test_the_order_of_an_intent_is_read_from_its_metadata(stub: tuple[StubStripe, str]) -> None:
    # Given the adapter pointed at the stub
    state, base = stub
    provider = StripeProvider("sk_test_123", base, max_network_retries=0)
    # When a dispute names an intent: GET /v1/payment_intents/{id} → metadata.order_id
    assert provider.order_id_of("pi_123") == "01ORDER"
    assert [r["path"] for r in state.requests] == ["/v1/payment_intents/pi_123"]
    # And an intent Stripe does not know is not ours; an outage is retryable
    assert provider.order_id_of("pi_unknown") is None
    state.status = 500
    with pytest.raises(UnavailableError):
        provider.order_id_of("pi_123")


def test_the_sweeper_cancels_the_intent_at_stripe_when_the_hold_ends(stub: tuple[StubStripe, str]) -> None:
    from chalicelib.checkout import orders
    from chalicelib.checkout.models import HOLD_MS, OrderCreate
    from tests.unit.checkout.conftest import T0, make_world

    # Given an order placed through Stripe (the stub) and left unpaid
    state, base = stub
    provider = StripeProvider("sk_test_123", base, max_network_retries=0)
    w = make_world()
    orders.place_order(
        w.repo, provider, buyer_id="ann", stream_id=w.stream_id,
        body=OrderCreate(product_id=w.product_id, quantity=1), idem_key="k", now_ms=T0,
    )  # fmt: skip
    # When its hold ends and the sweeper runs
    assert orders.sweep_expired(w.repo, T0 + HOLD_MS, provider) == 1
    # Then Stripe was asked to cancel the intent, so the buyer can no longer pay it
    assert [r["path"] for r in state.requests] == ["/v1/payment_intents", "/v1/payment_intents/pi_123/cancel"]


def test_a_late_payment_refund_reaches_stripe_with_the_order_id_as_key(stub: tuple[StubStripe, str]) -> None:
    from chalicelib.checkout import orders
    from chalicelib.checkout.models import HOLD_MS, OrderCreate
    from tests.unit.checkout.conftest import T0, make_world

    # Given an order placed through Stripe whose hold ended and whose unit was then sold
    state, base = stub
    provider = StripeProvider("sk_test_123", base, max_network_retries=0)
    w = make_world(flash_stock=1)
    placed = orders.place_order(
        w.repo, provider, buyer_id="ann", stream_id=w.stream_id,
        body=OrderCreate(product_id=w.product_id, quantity=1), idem_key="k", now_ms=T0,
    )  # fmt: skip
    orders.sweep_expired(w.repo, T0 + HOLD_MS, provider)
    orders.place_order(
        w.repo, w.provider, buyer_id="bob", stream_id=w.stream_id,
        body=OrderCreate(product_id=w.product_id, quantity=1), idem_key="k2", now_ms=T0 + HOLD_MS + 1,
    )  # fmt: skip
    # When the payment succeeds late
    result = orders.apply_payment_succeeded(
        w.repo, placed["order_id"], "pi_123", "evt_late", T0 + HOLD_MS + 5000,
        provider=provider, amount_received=999, currency="eur",
    )  # fmt: skip
    # Then Stripe got a refund of the full amount keyed by the order, and the order is refunded
    assert result == "refunded"
    refund = state.requests[-1]
    headers = {k.lower(): v for k, v in refund["headers"].items()}
    assert refund["path"] == "/v1/refunds"
    assert headers["idempotency-key"] == f"refund-{placed['order_id']}"
    assert refund["form"]["payment_intent"] == ["pi_123"] and refund["form"]["amount"] == ["999"]
    assert w.repo.orders[placed["order_id"]].refund_id == "re_123"
