"""The headline: a flash sale against the race-free local endpoint never oversells.

100 pinned units, 500 distinct buyers (1 unit each; every fifth buyer retries with the same
Idempotency-Key at the same time) hammering the real logic + dal from 50 threads over HTTP to
the serialised moto server. Exactly 100 orders hold stock, the rest are told ``sold_out``,
nobody gets two orders, and when the holds fail or expire the stock comes back exactly.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.checkout import catalog, orders
from chalicelib.checkout.dal import DynamoCheckoutRepository
from chalicelib.checkout.models import HOLD_MS, OrderCreate, PinCreate, ProductCreate
from chalicelib.checkout.payments import SimulatorProvider
from chalicelib.core import keys
from chalicelib.core.clock import iso_from_ms, now_ms
from chalicelib.core.ddb import serialize
from chalicelib.core.errors import DomainError
from tests.support.moto import moto_server

pytestmark = pytest.mark.e2e

UNITS = 100
BUYERS = 500
THREADS = 50


@pytest.fixture(scope="module")
def repo() -> Iterator[DynamoCheckoutRepository]:
    """The checkout repository on a fresh serialised moto with ``infra/`` deployed."""
    from botocore.config import Config

    from local.infra import deploy_all
    from local.stack import EndpointSession

    with moto_server() as url:
        # An explicit endpoint (not AWS_ENDPOINT_URL) so nothing leaks into other tests' mocks.
        session = EndpointSession(url)
        env = deploy_all(session, stage="local")
        client = session.client(
            "dynamodb", config=Config(max_pool_connections=THREADS, retries={"max_attempts": 2})
        )
        yield DynamoCheckoutRepository(client, env["TABLE_NAME"])


def _start_stream(repo: DynamoCheckoutRepository, stream_id: str, host: str, at: int) -> None:
    """The live domain's stream META item, as its contract describes it."""
    item = {
        **keys.stream(stream_id), "entity": "stream", "stream_id": stream_id, "host_id": host,
        "title": "Flash sale", "status": "live", "started_at": iso_from_ms(at), "shards": 1,
    }  # fmt: skip
    repo._ddb.put_item(TableName=repo._table, Item=serialize(item))


def test_a_flash_sale_sells_every_unit_exactly_once(repo: DynamoCheckoutRepository) -> None:
    # Given a live stream with 100 units pinned, one per buyer
    t0 = now_ms()
    _start_stream(repo, "flash", "host", t0)
    product = catalog.create_product(
        repo, "host", ProductCreate(title="Sneakers", price_cents=12900, currency="USD", stock=UNITS), t0
    )
    catalog.create_pin(
        repo, "host", "flash",
        PinCreate(product_id=product["product_id"], flash_price_cents=4900, per_user_limit=1), t0,
    )  # fmt: skip
    provider = SimulatorProvider("whsec_e2e_secret")
    attempts = [(f"buyer{i:03d}", f"key-{i}") for i in range(BUYERS)]
    attempts += [a for i, a in enumerate(attempts) if i % 5 == 0]  # concurrent retries, same key
    attempts.sort(key=lambda a: hash(a[0]))  # retries interleaved with everyone else

    outcomes: dict[str, list[str]] = defaultdict(list)
    lock = threading.Lock()
    samples: list[int] = []
    done = threading.Event()

    def attempt(buyer: str, key: str) -> None:
        try:
            result = orders.place_order(
                repo, provider, buyer_id=buyer, stream_id="flash",
                body=OrderCreate(product_id=product["product_id"], quantity=1), idem_key=key, now_ms=t0,
            )  # fmt: skip
            outcome = f"order:{result['order_id']}"
        except DomainError as err:
            outcome = f"{err.status}:{err.code}"
        with lock:
            outcomes[buyer].append(outcome)

    def watch_remaining() -> None:
        while not done.is_set():
            found = repo.get_pin_stock("flash", product["product_id"])
            assert found is not None
            samples.append(min(s.remaining for s in found[1]))
            done.wait(0.05)  # sample, without starving the buyers of the serialised endpoint

    # When 500 buyers (and 100 retries) hit "buy" at once
    watcher = threading.Thread(target=watch_remaining)
    watcher.start()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(lambda a: attempt(*a), attempts))
    done.set()
    watcher.join()

    # Then exactly 100 buyers hold one order each, and everyone else was told sold_out
    winners = {b: o for b, o in outcomes.items() if o[0].startswith("order:")}
    assert len(winners) == UNITS
    differing = {b: o for b, o in outcomes.items() if len(set(o)) > 1}
    assert not differing, f"a retry got a different answer: {differing}"
    assert Counter(o[0] for b, o in outcomes.items() if b not in winners) == {"409:sold_out": BUYERS - UNITS}
    order_ids = {o[0].removeprefix("order:") for o in winners.values()}
    assert len(order_ids) == UNITS
    # And the table agrees: 100 pending orders, nothing left, never below zero
    stored = [repo.get_order(i) for i in order_ids]
    assert all(o is not None and o.status == "pending_payment" and o.amount_cents == 4900 for o in stored)
    assert len({o.buyer_id for o in stored if o}) == UNITS
    found = repo.get_pin_stock("flash", product["product_id"])
    assert found is not None
    pin, shards = found
    assert (pin.remaining, pin.held, pin.sold, pin.pinned, pin.sold_out) == (0, UNITS, 0, UNITS, True)
    # And the default sizing spread the units over 4 shards, every one of them emptied
    assert pin.shards == 4 and [(s.units, s.remaining) for s in shards] == [(25, 0)] * 4
    assert Counter(o.shard for o in stored if o) == dict.fromkeys(range(4), 25)
    assert samples and min(samples) >= 0

    # When 10 buyers pay, 40 payments fail and the other 50 holds expire
    ordered = sorted((o for o in stored if o), key=_order_key)
    for i, o in enumerate(ordered[:10]):
        assert (
            orders.apply_payment_succeeded(repo, o.order_id, o.payment.payment_intent_id, f"evt_ok_{i}", t0)
            == "paid"
        )
    for i, o in enumerate(ordered[10:50]):
        result = orders.apply_payment_failed(repo, o.order_id, o.payment.payment_intent_id, f"evt_ko_{i}", t0)
        assert result == "payment_failed"
    assert orders.sweep_expired(repo, t0 + HOLD_MS) == 50
    assert orders.sweep_expired(repo, t0 + HOLD_MS + 60_000) == 0

    # Then exactly the 90 unpaid units are back on sale, each in the shard it came from, and the
    # 10 paid ones are sold
    found = repo.get_pin_stock("flash", product["product_id"])
    assert found is not None
    pin, shards = found
    assert (pin.remaining, pin.held, pin.sold, pin.pinned, pin.sold_out) == (90, 0, 10, UNITS, False)
    paid = Counter(o.shard for o in ordered[:10])
    assert [(s.remaining, s.sold) for s in shards] == [(25 - paid[k], paid[k]) for k in range(4)]


def _order_key(o: Any) -> str:
    return str(o.order_id)
