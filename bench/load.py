"""Load: N virtual users (asyncio + httpx) against the real local stack, with the issue's mix
(send 30 %, fetch 30 %, inbox 15 %, chat post 10 %, chat poll 10 %, share 5 %), and
``GET /v1/health`` probed on the same stack during the same run.

Every user paces itself like the app does: at most one DM every 0.25 s (the limit is 10 per
fixed 2-second window per sender) and one chat post every 1.2 s (slow mode is 1 s per user),
so a 429 is a real error here, reported like any other.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.stack import Answer, Api, client_for, gather_limited, local_stack, percentile, publish_video

MIX: list[tuple[str, float]] = [
    ("send DM", 0.30),
    ("fetch history", 0.30),
    ("inbox", 0.15),
    ("chat post", 0.10),
    ("chat poll", 0.10),
    ("share", 0.05),
]
EXPECTED = {
    "send DM": 201,
    "fetch history": 200,
    "inbox": 200,
    "chat post": 201,
    "chat poll": 200,
    "share": 201,
    "health": 200,
}
DM_INTERVAL_S = 0.25
CHAT_INTERVAL_S = 1.2
FRIENDS_EACH_SIDE = 2  # user i befriends i+1 and i+2 (mod N): 4 friends each
HEALTH_INTERVAL_S = 0.2
VIDEO_ID = "bench-load-video"


@dataclass
class Sample:
    """One request of the run."""

    op: str
    at_s: float  # since the run started
    latency_s: float
    status: int
    error: str = ""


@dataclass
class OpStats:
    """Latency percentiles (ms) and errors of one operation."""

    op: str
    count: int
    errors: int
    statuses: dict[int, int]
    p50: float
    p95: float
    p99: float

    @property
    def error_rate(self) -> float:
        """Errors ÷ requests."""
        return self.errors / self.count if self.count else 0.0


@dataclass
class LoadResult:
    """Per-operation stats, the health baseline and the raw samples (for the plot)."""

    users: int
    duration_s: float
    think_s: tuple[float, float]
    stats: list[OpStats]
    samples: list[Sample]
    setup_s: float
    stack_start_s: float
    error_examples: list[str] = field(default_factory=list)

    @property
    def health(self) -> OpStats | None:
        """The ``GET /v1/health`` row."""
        return next((s for s in self.stats if s.op == "health"), None)

    @property
    def total_errors(self) -> int:
        """Errors over every operation (health included)."""
        return sum(s.errors for s in self.stats)

    @property
    def throughput(self) -> float:
        """Product requests per second (health excluded)."""
        return sum(s.count for s in self.stats if s.op != "health") / self.duration_s


@dataclass
class World:
    """What the seeded users can do: their friends, conversations, the stream and the video."""

    users: list[str]
    friends: dict[str, list[str]]
    conversations: dict[str, list[str]]
    stream_id: str
    video_id: str


async def seed(api: Api, stack: Any, n_users: int) -> World:
    """Users, friendships (mutual follows), a direct conversation per friend pair, a live
    stream and a public video (through the video-events topic and the pump)."""
    users = [f"load-u{i:03d}" for i in range(n_users)]
    pairs = sorted(
        {tuple(sorted((users[i], users[(i + d) % n_users]))) for i in range(n_users) for d in range(1, 3)}
    )
    pairs = [p for p in pairs if p[0] != p[1]]
    follows = [api.ok("PUT", f"/v1/users/{b}/follow", a) for x, y in pairs for a, b in ((x, y), (y, x))]
    await gather_limited(8, follows)
    created = await gather_limited(
        8, [api.ok("POST", "/v1/conversations", a, {"member_ids": [b]}) for a, b in pairs]
    )
    friends: dict[str, list[str]] = {u: [] for u in users}
    conversations: dict[str, list[str]] = {u: [] for u in users}
    for (a, b), conv in zip(pairs, created, strict=True):
        friends[a].append(b)
        friends[b].append(a)
        conversations[a].append(conv["conversation_id"])
        conversations[b].append(conv["conversation_id"])
    # 1,000 msgs/s expected → K = 2 shards.
    stream = await api.ok(
        "POST", "/v1/streams", "load-host", {"title": "Load test", "expected_peak_msgs_per_second": 1000}
    )
    publish_video(stack, VIDEO_ID, users[0])
    deadline = time.monotonic() + 30
    while (await api.call("GET", f"/v1/videos/{VIDEO_ID}", users[0])).status != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the video event was not projected within 30 s (is the pump running?)")
        await asyncio.sleep(0.2)
    return World(users, friends, conversations, stream["stream_id"], VIDEO_ID)


class VirtualUser:
    """One user: follows the mix, paces DMs and chat like the app, thinks between actions."""

    def __init__(self, api: Api, world: World, user: str, rng: random.Random, think: tuple[float, float]):
        self.api = api
        self.world = world
        self.user = user
        self.rng = rng
        self.think = think
        self.next_dm = 0.0
        self.next_chat = 0.0
        self.cursor: str | None = None
        self.sent = 0
        self._bag: list[str] = []

    def next_op(self) -> str:
        """The mix, exactly: each cycle of 20 operations is the mix's 20 slots, shuffled."""
        if not self._bag:
            self._bag = [op for op, share in MIX for _ in range(round(share * 20))]
            self.rng.shuffle(self._bag)
        return self._bag.pop()

    async def _paced(self, attr: str, interval: float) -> None:
        wait = getattr(self, attr) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        setattr(self, attr, time.monotonic() + interval)

    async def step(self, op: str) -> Answer:
        """Run one operation."""
        w, u, rng = self.world, self.user, self.rng
        if op == "send DM":
            await self._paced("next_dm", DM_INTERVAL_S)
            self.sent += 1
            cid = rng.choice(w.conversations[u])
            body = {"client_message_id": f"{u}-{self.sent}", "text": f"hello #{self.sent} from {u}"}
            return await self.api.call("POST", f"/v1/conversations/{cid}/messages", u, body)
        if op == "fetch history":
            cid = rng.choice(w.conversations[u])
            return await self.api.call("GET", f"/v1/conversations/{cid}/messages?limit=20", u)
        if op == "inbox":
            return await self.api.call("GET", "/v1/conversations?folder=inbox&limit=20", u)
        if op == "chat post":
            await self._paced("next_chat", CHAT_INTERVAL_S)
            self.sent += 1
            body = {"client_message_id": f"{u}-c{self.sent}", "text": f"chat #{self.sent}"}
            return await self.api.call("POST", f"/v1/streams/{w.stream_id}/chat", u, body)
        if op == "chat poll":
            path = f"/v1/streams/{w.stream_id}/chat" + (f"?cursor={self.cursor}" if self.cursor else "")
            answer = await self.api.call("GET", path, u)
            if answer.status == 200 and isinstance(answer.body, dict):
                self.cursor = answer.body.get("next_cursor") or self.cursor
            return answer
        if op == "share":
            recipients = rng.sample(w.friends[u], k=rng.randint(1, min(3, len(w.friends[u]))))
            return await self.api.call(
                "POST",
                f"/v1/videos/{w.video_id}/shares",
                u,
                {"recipient_ids": recipients, "note": "look"},
                {"Idempotency-Key": str(uuid.uuid4())},
            )
        raise ValueError(op)

    async def run(self, until: float, t0: float, record: Callable[[Sample], None]) -> None:
        """Loop until ``until`` (monotonic)."""
        await asyncio.sleep(self.rng.uniform(0, self.think[1]))  # stagger the start
        while time.monotonic() < until:
            op = self.next_op()
            start = time.monotonic()
            answer = await self.step(op)
            record(Sample(op, start - t0, answer.latency_s, answer.status, answer.error))
            await asyncio.sleep(self.rng.uniform(*self.think))


async def _health(api: Api, until: float, t0: float, record: Callable[[Sample], None]) -> None:
    while time.monotonic() < until:
        start = time.monotonic()
        answer = await api.call("GET", "/v1/health")
        record(Sample("health", start - t0, answer.latency_s, answer.status, answer.error))
        await asyncio.sleep(HEALTH_INTERVAL_S)


def summarise(samples: list[Sample]) -> list[OpStats]:
    """Per-operation percentiles and errors (anything but the expected status is an error)."""
    out: list[OpStats] = []
    for op in [m for m, _ in MIX] + ["health"]:
        mine = [s for s in samples if s.op == op]
        latencies = [s.latency_s * 1000 for s in mine]
        statuses: dict[int, int] = {}
        for s in mine:
            statuses[s.status] = statuses.get(s.status, 0) + 1
        errors = sum(1 for s in mine if s.status != EXPECTED[op])
        out.append(
            OpStats(
                op,
                len(mine),
                errors,
                statuses,
                percentile(latencies, 50),
                percentile(latencies, 95),
                percentile(latencies, 99),
            )
        )
    return out


async def _run(
    users: int, duration: float, think: tuple[float, float], seed_value: int, progress: Any
) -> LoadResult:
    started = time.perf_counter()
    with local_stack("load") as stack:
        stack_start = time.perf_counter() - started
        async with client_for(stack, users + 4) as client:
            api = Api(stack, client)
            setup_started = time.perf_counter()
            world = await seed(api, stack, users)
            setup_s = time.perf_counter() - setup_started
            samples: list[Sample] = []
            t0 = time.monotonic()
            until = t0 + duration
            rng = random.Random(seed_value)
            vus = [VirtualUser(api, world, u, random.Random(rng.random()), think) for u in world.users]
            tasks = [asyncio.create_task(v.run(until, t0, samples.append)) for v in vus]
            tasks.append(asyncio.create_task(_health(api, until, t0, samples.append)))
            while not all(t.done() for t in tasks):
                await asyncio.sleep(1)
                if progress is not None:
                    progress.n = min(int(time.monotonic() - t0), int(duration))
                    progress.set_postfix_str(f"{len(samples)} requests")
                    progress.refresh()
            for t in tasks:
                t.result()  # surface driver bugs
            elapsed = time.monotonic() - t0
    examples = sorted(
        {f"{s.op}: {s.status} {s.error}".strip() for s in samples if s.status != EXPECTED[s.op]}
    )
    return LoadResult(users, elapsed, think, summarise(samples), samples, setup_s, stack_start, examples[:10])


def run(
    users: int = 20,
    duration: float = 45.0,
    think: tuple[float, float] = (0.2, 0.8),
    seed_value: int = 11,
    progress: Any = None,
) -> LoadResult:
    """Start a fresh local stack, seed it, drive ``users`` virtual users for ``duration`` s."""
    return asyncio.run(_run(users, duration, think, seed_value, progress))


def plot(result: LoadResult, path: Any) -> None:
    """Percentile bars per operation next to health, and latency over the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = [s for s in result.stats if s.count]
    fig, (bars, timeline) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.1, 1]})
    x = range(len(ops))
    width = 0.27
    for i, (name, attr) in enumerate((("p50", "p50"), ("p95", "p95"), ("p99", "p99"))):
        bars.bar([v + (i - 1) * width for v in x], [getattr(s, attr) for s in ops], width, label=name)
    bars.set_xticks(list(x), [s.op for s in ops], rotation=25, ha="right")
    bars.set_ylabel("latency (ms)")
    bars.set_title(f"{result.users} virtual users, {result.duration_s:.0f} s: percentiles per operation")
    bars.legend()
    bars.grid(axis="y", alpha=0.3)
    for s in ops:
        mine = [p for p in result.samples if p.op == s.op]
        timeline.scatter(
            [p.at_s for p in mine], [p.latency_s * 1000 for p in mine], s=4, alpha=0.5, label=s.op
        )
    timeline.set_yscale("log")
    timeline.set_xlabel("time into the run (s)")
    timeline.set_ylabel("latency (ms, log)")
    timeline.set_title("every request over time")
    timeline.legend(markerscale=3, fontsize=8)
    timeline.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
