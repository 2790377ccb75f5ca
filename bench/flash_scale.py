"""Flash sale at scale: the throughput model of one pin's sharded stock and the local
exactness runs.

*Model.* DynamoDB serves one item (and one partition) with at most 1,000 WCU/s and
3,000 RCU/s. An order's transaction updates ONE stock shard (a transactional write of an item
≤ 1 KB: 2 WCU), so a shard caps at 500 orders/s and S shards at 500 x S; the sizing rule keeps
each shard at ≤ 250 orders/s (half the ceiling: headroom for TransactionConflict retries and
uneven hashing). The other items an order touches are listed with their per-key load, so the
first key to saturate is visible. WCU per order is measured: the stored items of a real order
priced with DynamoDB's rules (``bench.capacity``: 2x inside a transaction, +1 per GSI entry).

*Exactness.* The real logic + dal from 50 threads against a fresh serialised moto server (the
local race-free endpoint; moto itself is not thread-safe): 1,000 distinct buyers for 100 units
over S = 8 shards, and 1,000 buyers for 1,000 units over S = 8.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

SHARD_SIZES = (1, 8, 40, 100)
ITEM_WCU_PER_S = 1000
PARTITION_RCU_PER_S = 3000
THREADS = 50
RUNS = ((1000, 100, 2000), (1000, 1000, 2000))  # (buyers, units, expected peak → S = 8)
CLIENT_RETRIES = 3


@dataclass
class Run:
    """One local exactness run."""

    buyers: int
    units: int
    shards: int
    wall_s: float
    statuses: dict[str, int]
    orders: int
    orders_per_shard: list[int]
    shard_remaining: list[int]
    shard_held: list[int]
    remaining_view: int
    sold_out_flag: bool
    retried_after_503: int = 0
    checks: list[tuple[str, bool, str]] = field(default_factory=list)


@dataclass
class ScaleResult:
    """Model rows, measured cost of one order, and the runs."""

    wcu_per_order: float
    wcu_by_item: dict[str, float]
    model: list[dict[str, Any]]
    hot_keys: list[dict[str, Any]]
    runs: list[Run]
    default_sizing: dict[str, Any]

    @property
    def passed(self) -> bool:
        """Every exactness check held and the default sizing reaches the target."""
        exact = all(ok for r in self.runs for _, ok, _ in r.checks)
        return exact and bool(self.default_sizing["meets_target"])


def model_rows(shard_wcu: float) -> list[dict[str, Any]]:
    """orders/s ceiling of one pin's stock at S = 1, 8, 40, 100."""
    per_shard_ceiling = ITEM_WCU_PER_S / shard_wcu
    from chalicelib.checkout.stock_shards import PER_SHARD_ORDERS_PER_S

    return [
        {
            "shards": s,
            "per_shard_ceiling": per_shard_ceiling,
            "ceiling": per_shard_ceiling * s,
            "at_sizing_target": PER_SHARD_ORDERS_PER_S * s,
            "peak_it_is_sized_for": PER_SHARD_ORDERS_PER_S * s,
        }
        for s in SHARD_SIZES
    ]


def _repository(url: str, name: str) -> Any:
    """Checkout's repository on a stream-less copy of the deployed table (moto deep-copies the
    stream per transaction action, which would measure moto, not the code)."""
    from botocore.config import Config

    from chalicelib.checkout.dal import DynamoCheckoutRepository
    from local.infra import deploy_all
    from local.stack import EndpointSession

    session = EndpointSession(url)
    env = deploy_all(session, stage="local")
    config = Config(max_pool_connections=THREADS, retries={"max_attempts": 2})
    client = session.client("dynamodb", config=config)
    desc = client.describe_table(TableName=env["TABLE_NAME"])["Table"]
    client.create_table(
        TableName=name,
        AttributeDefinitions=desc["AttributeDefinitions"],
        KeySchema=desc["KeySchema"],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
            for g in desc.get("GlobalSecondaryIndexes", [])
        ],
    )
    return DynamoCheckoutRepository(client, name), client


def _fresh_table(client: Any, like: str, name: str) -> str:
    desc = client.describe_table(TableName=like)["Table"]
    client.create_table(
        TableName=name,
        AttributeDefinitions=desc["AttributeDefinitions"],
        KeySchema=desc["KeySchema"],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
            for g in desc.get("GlobalSecondaryIndexes", [])
        ],
    )
    return name


def _sale(repo: Any, client: Any, stream_id: str, units: int, peak: int, t0: int) -> str:
    from chalicelib.checkout import catalog
    from chalicelib.checkout.models import PinCreate, ProductCreate
    from chalicelib.core import keys
    from chalicelib.core.clock import iso_from_ms
    from chalicelib.core.ddb import serialize

    meta = {
        **keys.stream(stream_id), "entity": "stream", "stream_id": stream_id, "host_id": "host",
        "title": "Flash sale", "status": "live", "started_at": iso_from_ms(t0), "shards": 1,
    }  # fmt: skip
    client.put_item(TableName=repo._table, Item=serialize(meta))
    product = catalog.create_product(
        repo, "host", ProductCreate(title="Sneakers", price_cents=12900, currency="USD", stock=units), t0
    )
    catalog.create_pin(
        repo, "host", stream_id,
        PinCreate(product_id=product["product_id"], flash_price_cents=4900, per_user_limit=1,
                  expected_peak_orders_per_second=peak), t0,
    )  # fmt: skip
    return str(product["product_id"])


def _exactness_run(repo: Any, client: Any, buyers: int, units: int, peak: int, tag: str) -> Run:
    from chalicelib.checkout import orders
    from chalicelib.checkout.models import OrderCreate
    from chalicelib.checkout.payments import SimulatorProvider
    from chalicelib.core.clock import now_ms
    from chalicelib.core.errors import DomainError

    t0 = now_ms()
    stream_id = f"flash-{tag}"
    product_id = _sale(repo, client, stream_id, units, peak, t0)
    provider = SimulatorProvider("bench")
    outcomes: list[str] = []
    placed: list[str] = []
    retried: list[int] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        # A buyer's app retries a 503 (Retry-After) with the same Idempotency-Key, up to 3 times.
        for retry in range(CLIENT_RETRIES + 1):
            try:
                view = orders.place_order(
                    repo, provider, buyer_id=f"{tag}-b{i:04d}", stream_id=stream_id,
                    body=OrderCreate(product_id=product_id, quantity=1), idem_key=f"k{i}", now_ms=t0,
                )  # fmt: skip
                outcome = "201"
                with lock:
                    placed.append(str(view["order_id"]))
            except DomainError as err:
                outcome = f"{err.status} {err.code}"
            if outcome.startswith("503") and retry < CLIENT_RETRIES:
                with lock:
                    retried.append(i)
                continue
            break
        with lock:
            outcomes.append(outcome)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(attempt, range(buyers)))
    wall = time.perf_counter() - started
    found = repo.get_pin_stock(stream_id, product_id)
    assert found is not None
    pin, shards = found
    view = next(p for p in repo.list_pins(stream_id) if p.product_id == product_id)
    stored = [repo.get_order(i) for i in placed]
    per_shard = Counter(o.shard for o in stored if o is not None and o.status == "pending_payment")
    run = Run(
        buyers=buyers,
        units=units,
        shards=pin.shards,
        wall_s=wall,
        statuses=dict(Counter(outcomes)),
        orders=len(placed),
        orders_per_shard=[per_shard.get(k, 0) for k in range(pin.shards)],
        shard_remaining=[s.remaining for s in shards],
        shard_held=[s.held for s in shards],
        remaining_view=view.remaining,
        sold_out_flag=pin.sold_out,
        retried_after_503=len(retried),
    )
    expected = min(buyers, units)
    run.checks = [
        (
            f"exactly {expected} orders",
            run.orders == expected and len(set(placed)) == expected,
            f"{run.orders}",
        ),
        ("every shard at 0", all(r == 0 for r in run.shard_remaining), f"{run.shard_remaining}"),
        ("remaining (sum over shards, the view) = 0", run.remaining_view == 0, f"{run.remaining_view}"),
        (
            "held per shard = orders per shard (none lost, none created)",
            run.shard_held == run.orders_per_shard and sum(run.shard_held) == expected,
            f"held {run.shard_held}",
        ),
        (
            "everyone else: 409 sold_out, no 5xx",
            run.statuses.get("409 sold_out", 0) == buyers - expected and len(run.statuses) <= 2,
            ", ".join(f"{k} x{v}" for k, v in sorted(run.statuses.items())),
        ),
    ]
    if buyers > units:
        run.checks.append(("sold-out flag set", run.sold_out_flag, f"{run.sold_out_flag}"))
    return run


def _order_cost(repo: Any, client: Any) -> tuple[float, dict[str, float]]:
    """WCU of one placed order, from its stored items (DynamoDB's pricing rules)."""
    from bench.capacity import item_size, write_units
    from chalicelib.checkout import orders
    from chalicelib.checkout.models import OrderCreate
    from chalicelib.checkout.payments import SimulatorProvider
    from chalicelib.core import keys
    from chalicelib.core.clock import now_ms
    from chalicelib.core.ddb import serialize

    t0 = now_ms()
    product_id = _sale(repo, client, "flash-cost", 10, 2000, t0)
    view = orders.place_order(
        repo, SimulatorProvider("bench"), buyer_id="cost-buyer", stream_id="flash-cost",
        body=OrderCreate(product_id=product_id, quantity=1), idem_key="cost", now_ms=t0,
    )  # fmt: skip
    order = repo.get_order(str(view["order_id"]))
    items = {
        "idempotency record (Put)": (keys.idempotency("cost-buyer", "order", "cost"), 0),
        "stock shard (Update)": (keys.pin_stock_shard("flash-cost", product_id, order.shard), 0),
        "stream META (ConditionCheck)": (keys.stream("flash-cost"), 0),
        "buyer counter (Update)": (keys.pin_buyer("flash-cost", product_id, "cost-buyer"), 0),
        "order (Put, + GSI1 buyer list + GSI2 pending index)": (keys.order(order.order_id), 2),
        "seller's sale pointer (Put)": (keys.sale(order.seller_id, order.order_id), 0),
    }
    cost: dict[str, float] = {}
    for name, (key, gsis) in items.items():
        stored = client.get_item(TableName=repo._table, Key=serialize(key)).get("Item")
        cost[name] = 2 * write_units(item_size(stored)) + gsis
    return sum(cost.values()), cost


def hot_keys(cost: dict[str, float]) -> list[dict[str, Any]]:
    """Per-key load of one order and the orders/s at which that key saturates."""
    shard = cost["stock shard (Update)"]
    meta = cost["stream META (ConditionCheck)"]
    sale = cost["seller's sale pointer (Put)"]
    return [
        {
            "key": "stock shard PINSTOCK#sid#pid#k (one of S)",
            "per_order": f"{shard:g} WCU on one of S items",
            "saturates_at": f"{ITEM_WCU_PER_S / shard:,.0f} x S orders/s",
        },
        {
            "key": "stream partition STREAM#sid: META ConditionCheck in the transaction",
            "per_order": f"{meta:g} units on one item",
            "saturates_at": f"{ITEM_WCU_PER_S / meta:,.0f} orders/s (whatever S)",
        },
        {
            "key": "stream partition STREAM#sid: first read of META + pin (strongly consistent)",
            "per_order": "2 RCU",
            "saturates_at": f"{PARTITION_RCU_PER_S / 2:,.0f} orders/s (whatever S)",
        },
        {
            "key": "seller partition USER#seller: SALE# pointer",
            "per_order": f"{sale:g} WCU",
            "saturates_at": f"{ITEM_WCU_PER_S / sale:,.0f} orders/s per seller (whatever S)",
        },
        {
            "key": "idempotency record, buyer counter, order (+ its GSI entries)",
            "per_order": "one item per buyer / order",
            "saturates_at": "spread: no single key",
        },
    ]


def run(progress: Any = None) -> ScaleResult:
    """The model (priced from one real order) and both exactness runs, on a fresh moto."""
    from chalicelib.checkout.stock_shards import shard_count
    from tests.support.moto import moto_server

    with moto_server() as url:
        repo, client = _repository(url, "flash-scale")
        total, by_item = _order_cost(repo, client)
        runs = []
        for i, (buyers, units, peak) in enumerate(RUNS):
            # A table per run: moto's transactions cost grows with the table (a copy per call).
            run_repo = type(repo)(client, _fresh_table(client, repo._table, f"flash-scale-{i}"))
            runs.append(_exactness_run(run_repo, client, buyers, units, peak, f"r{i}"))
            if progress is not None:
                progress.update(1)
    rows = model_rows(by_item["stock shard (Update)"])
    s = shard_count(1_000_000, 100_000)
    ceiling = ITEM_WCU_PER_S / by_item["stock shard (Update)"] * s
    from chalicelib.checkout.stock_shards import PER_SHARD_ORDERS_PER_S

    sizing = {
        "peak": 100_000,
        "shards": s,
        "at_target": PER_SHARD_ORDERS_PER_S * s,
        "ceiling": ceiling,
        "meets_target": PER_SHARD_ORDERS_PER_S * s >= 10_000,
        "table_wcu_at_10k": 10_000 * total,
        "shards_needed_for_100k": math.ceil(100_000 / (ITEM_WCU_PER_S / by_item["stock shard (Update)"])),
    }
    return ScaleResult(total, by_item, rows, hot_keys(by_item), runs, sizing)


def summarise(r: ScaleResult) -> dict[str, Any]:
    """The section as plain data (kept between runs)."""
    from dataclasses import asdict

    return {
        "wcu_per_order": r.wcu_per_order,
        "wcu_by_item": r.wcu_by_item,
        "model": r.model,
        "hot_keys": r.hot_keys,
        "default_sizing": r.default_sizing,
        "runs": [asdict(run) for run in r.runs],
        "passed": r.passed,
    }


def render(c: dict[str, Any]) -> list[str]:
    """Section "Flash sale at scale" of ``docs/benchmarks.md``."""
    mark = {True: "✅ pass", False: "❌ FAIL"}
    sizing = c["default_sizing"]
    out = [
        "## 4b. Flash sale at scale (sharded stock)",
        "",
        "A pin's stock lives in S stock-shard items, S = ceil(expected peak ÷ 250), S ≤ 100, S ≤ units",
        "(`chalicelib/checkout/stock_shards.py`). An order's transaction updates ONE shard. Limits used:",
        f"{ITEM_WCU_PER_S:,} WCU/s per item and per partition, {PARTITION_RCU_PER_S:,} RCU/s per partition,",
        "2 WCU per transactional write of an item ≤ 1 KB.",
        "",
        f"**Measured WCU per order: {c['wcu_per_order']:g}** (stored items of a real order, priced with",
        "DynamoDB's rules):",
        "",
        "| Item written by the order transaction | WCU |",
        "|---|---:|",
    ]
    out += [f"| {name} | {wcu:g} |" for name, wcu in c["wcu_by_item"].items()]
    out += [
        "",
        "Orders/s ceiling of one pin's stock:",
        "",
        "| S | per-shard ceiling | pin ceiling (S x 1,000 WCU ÷ shard WCU) | sized load (250 x S) |",
        "|---:|---:|---:|---:|",
    ]
    out += [
        f"| {m['shards']} | {m['per_shard_ceiling']:,.0f} | {m['ceiling']:,.0f} | {m['at_sizing_target']:,} |"
        for m in c["model"]
    ]
    out += [
        "",
        f"Default sizing for a {sizing['peak']:,} orders/s sale: S = {sizing['shards']} → stock sized for",
        f"{sizing['at_target']:,} orders/s, ceiling {sizing['ceiling']:,.0f} orders/s; target ≥ 10,000:",
        f"{mark[bool(sizing['meets_target'])]}. Table-wide, 10,000 orders/s cost"
        f" {sizing['table_wcu_at_10k']:,.0f} WCU/s.",
        "",
        "Every key one order touches (the first to saturate caps the sale, whatever S):",
        "",
        "| Key | Per order | Saturates at |",
        "|---|---|---|",
    ]
    out += [f"| {h['key']} | {h['per_order']} | {h['saturates_at']} |" for h in c["hot_keys"]]
    out += [
        "",
        "Local exactness runs (real logic + dal, 50 threads, serialised moto server; a buyer's app",
        "retries a 503 with the same Idempotency-Key up to 3 times, as `Retry-After` asks):",
        "",
        "| Buyers / units / S | Wall | Orders per shard | Shards after | Final answers | 503 retried |",
        "|---|---:|---|---|---|---:|",
    ]
    for run in c["runs"]:
        statuses = ", ".join(f"{k} x{v}" for k, v in sorted(run["statuses"].items()))
        out.append(
            f"| {run['buyers']:,} / {run['units']:,} / {run['shards']} | {run['wall_s']:.1f} s"
            f" | {run['orders_per_shard']} | remaining {run['shard_remaining']} | {statuses}"
            f" | {run.get('retried_after_503', 0)} |"
        )
    out += ["", "| Run | Invariant | Measured | Result |", "|---|---|---|---|"]
    for run in c["runs"]:
        label = f"{run['buyers']:,} / {run['units']:,}"
        out += [f"| {label} | {name} | {detail} | {mark[bool(ok)]} |" for name, ok, detail in run["checks"]]
    out.append("")
    return out
