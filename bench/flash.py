"""Flash sale over HTTP against the real local stack: a host pins 100 units on a live stream
(product, stream and pin created through the API) and 1,000 distinct buyers, each with their
own token and Idempotency-Key, all tap "buy" at once.

The buyers are 1,000 concurrent tasks sharing a pool of ``connections`` HTTP connections
(the local API server is Python's threaded ``http.server``, listen backlog raised to 128; a
thousand simultaneous connects would measure TCP SYN retries, not the code). Two latencies:
*service* (request sent → answer) and *tap-to-answer* (sale start → answer, queueing for a
connection included, what a buyer experiences).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bench.stack import Api, client_for, local_stack, percentile

UNITS = 100


@dataclass
class Attempt:
    """One buyer's outcome."""

    buyer: str
    status: int
    code: str
    service_s: float
    tap_to_answer_s: float
    order_id: str | None = None


@dataclass
class FlashResult:
    """Throughput, latencies and the invariant checks."""

    buyers: int
    units: int
    connections: int
    attempts: list[Attempt]
    wall_s: float
    sold_out_at_s: float | None
    remaining: Any
    product_stock: Any
    stored_orders: int
    stored_buyers: int
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def count(self, status: int, code: str | None = None) -> int:
        """Attempts answered ``status`` (and ``code``)."""
        return sum(1 for a in self.attempts if a.status == status and (code is None or a.code == code))

    @property
    def orders_per_s(self) -> float:
        """Orders placed per second until the last one."""
        return self.count(201) / self.sold_out_at_s if self.sold_out_at_s else 0.0

    @property
    def attempts_per_s(self) -> float:
        """Answers (orders and refusals) per second over the whole sale."""
        return len(self.attempts) / self.wall_s if self.wall_s else 0.0

    def latency(self, kind: str, q: float, status: int | None = None) -> float:
        """Percentile ``q`` in ms of ``service`` or ``tap`` latency (optionally one status)."""
        values = [
            (a.service_s if kind == "service" else a.tap_to_answer_s) * 1000
            for a in self.attempts
            if status is None or a.status == status
        ]
        return percentile(values, q)

    @property
    def passed(self) -> bool:
        """Every invariant held."""
        return all(ok for _, ok, _ in self.checks)


def _stored_orders(stack: Any, product_id: str) -> tuple[int, int]:
    """Orders for the product holding stock, read straight from the table (uncounted scan)."""
    from chalicelib.core.ddb import deserialize

    ddb = stack.session().client("dynamodb")
    table = stack.overrides["TABLE_NAME"]
    orders: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for raw in page.get("Items", []):
            item = deserialize(raw) or {}
            if item.get("entity") == "order" and item.get("product_id") == product_id:
                orders.append(item)
    holding = [o for o in orders if o.get("status") in ("pending_payment", "paid")]
    return len(holding), len({o.get("buyer_id") for o in holding})


async def _run(buyers: int, connections: int, progress: Any) -> FlashResult:
    with local_stack("flash") as stack:
        async with client_for(stack, connections) as client:
            api = Api(stack, client)
            host = "flash-host"
            stream = await api.ok("POST", "/v1/streams", host, {"title": "Flash sale"})
            sid = stream["stream_id"]
            product = await api.ok(
                "POST",
                "/v1/products",
                host,
                {"title": "Sneakers", "price_cents": 12900, "currency": "USD", "stock": UNITS},
            )
            pid = product["product_id"]
            await api.ok(
                "POST",
                f"/v1/streams/{sid}/pins",
                host,
                {"product_id": pid, "flash_price_cents": 4900, "per_user_limit": 1},
            )
            names = [f"flash-b{i:04d}" for i in range(buyers)]
            for name in names:
                api.token(name)  # mint before the sale: signing is not part of a tap
            gate = asyncio.Event()
            semaphore = asyncio.Semaphore(connections)
            attempts: list[Attempt] = []
            t0 = 0.0

            async def buy(i: int, name: str) -> None:
                await gate.wait()
                async with semaphore:
                    answer = await api.call(
                        "POST",
                        f"/v1/streams/{sid}/orders",
                        name,
                        {"product_id": pid, "quantity": 1},
                        {"Idempotency-Key": f"flash-{i}"},
                    )
                done = time.perf_counter()
                body = answer.body if isinstance(answer.body, dict) else {}
                attempts.append(
                    Attempt(
                        name,
                        answer.status,
                        str(body.get("code", answer.error or "")),
                        answer.latency_s,
                        done - t0,
                        body.get("order_id"),
                    )
                )
                if progress is not None:
                    progress.update(1)

            tasks = [asyncio.create_task(buy(i, n)) for i, n in enumerate(names)]
            await asyncio.sleep(0.1)  # every buyer is waiting at the gate
            t0 = time.perf_counter()
            gate.set()
            await asyncio.gather(*tasks)
            wall = time.perf_counter() - t0
            sold = sorted(a.tap_to_answer_s for a in attempts if a.status == 201)
            view = await api.ok("GET", f"/v1/streams/{sid}", host)
            pin: dict[str, Any] = next((p for p in view.get("pinned", []) if p.get("product_id") == pid), {})
            stock = (await api.ok("GET", f"/v1/products/{pid}", host)).get("stock")
            stored, stored_buyers = _stored_orders(stack, pid)
    result = FlashResult(
        buyers,
        UNITS,
        connections,
        attempts,
        wall,
        sold[-1] if sold else None,
        pin.get("remaining"),
        stock,
        stored,
        stored_buyers,
    )
    result.checks = checks(result)
    return result


def checks(r: FlashResult) -> list[tuple[str, bool, str]]:
    """The invariant: exactly ``units`` sold, nothing left, everyone else sold_out, no 5xx."""
    ok_orders = r.count(201)
    order_ids = {a.order_id for a in r.attempts if a.status == 201}
    sold_out = r.count(409, "sold_out")
    server_errors = sum(1 for a in r.attempts if a.status >= 500 or a.status == 0)
    others = len(r.attempts) - ok_orders - sold_out - server_errors
    return [
        (
            f"exactly {r.units} orders answered 201",
            ok_orders == r.units,
            f"{ok_orders} (distinct ids: {len(order_ids)})",
        ),
        (
            f"exactly {r.units} orders hold stock in the table",
            r.stored_orders == r.units,
            f"{r.stored_orders} orders, {r.stored_buyers} distinct buyers",
        ),
        ("pin remaining = 0", r.remaining == 0, f"remaining = {r.remaining}"),
        (
            "every other buyer: 409 sold_out",
            sold_out == r.buyers - r.units,
            f"{sold_out} sold_out, {others} other",
        ),
        ("no 5xx / transport errors", server_errors == 0, f"{server_errors}"),
    ]


def run(buyers: int = 1000, connections: int = 64, progress: Any = None) -> FlashResult:
    """Start a fresh local stack and run the sale."""
    return asyncio.run(_run(buyers, connections, progress))


def plot(result: FlashResult, path: Any) -> None:
    """Tap-to-answer times of orders and refusals over the sale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for label, status in (("order placed (201)", 201), ("sold out (409)", 409)):
        values = sorted(a.tap_to_answer_s for a in result.attempts if a.status == status)
        ax.hist(values, bins=40, alpha=0.7, label=f"{label}: {len(values)}")
    ax.set_xlabel("seconds from sale start to answer")
    ax.set_ylabel("buyers")
    ax.set_title(
        f"Flash sale: {result.buyers} buyers, {result.units} units, {result.connections} connections"
    )
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
