"""The real local stack for the HTTP benchmarks (``make run``'s startup code, ``local.stack``),
on free ports with its own key pair and logs, plus an async JSON client with cached tokens."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from local.stack import ROOT, Stack, StackSettings

LOG_KEEP_DIR = ROOT / ".local" / "bench-logs"


@contextmanager
def local_stack(name: str) -> Iterator[Stack]:
    """Start the infra, the API, the event pump and the WebSocket gateway with ``local.stack``
    on the serialised moto server run through ``bench.moto_server`` (which logs slow requests);
    stop every process started here on exit. The children's logs are kept in
    ``.local/bench-logs/<name>``."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        # 30 s for moto's first answer: the wait the bench has always allowed (the stack's is 20 s).
        settings = StackSettings.on_free_ports(Path(tmp), moto_module="bench.moto_server", moto_timeout_s=30)
        stack = Stack(settings)
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()
            # Keep the children's logs for a post-mortem (.local/ is git-ignored).
            kept = LOG_KEEP_DIR / name
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(stack.log_dir, kept, dirs_exist_ok=True)


@dataclass
class Answer:
    """One HTTP exchange as the benchmark sees it."""

    status: int
    body: Any
    latency_s: float
    error: str = ""


class Api:
    """JSON over one ``httpx.AsyncClient`` with a token per user (minted once)."""

    def __init__(self, stack: Stack, client: httpx.AsyncClient) -> None:
        self.stack = stack
        self.client = client
        self._tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        """A bearer token the stack accepts."""
        if user not in self._tokens:
            self._tokens[user] = self.stack.token(user)
        return self._tokens[user]

    async def call(
        self,
        method: str,
        path: str,
        user: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request; transport errors become status 0 with the error text."""
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if user:
            all_headers["Authorization"] = f"Bearer {self.token(user)}"
        content = json.dumps(body).encode() if body is not None else None
        started = time.perf_counter()
        try:
            response = await self.client.request(method, path, content=content, headers=all_headers)
        except httpx.HTTPError as err:
            return Answer(0, None, time.perf_counter() - started, f"{type(err).__name__}: {err}")
        latency = time.perf_counter() - started
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = response.text
        return Answer(response.status_code, parsed, latency)

    async def ok(
        self,
        method: str,
        path: str,
        user: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """A setup request that must succeed."""
        answer = await self.call(method, path, user, body, headers)
        if not 200 <= answer.status < 300:
            raise RuntimeError(f"{method} {path} as {user} → {answer.status} {answer.body!r} {answer.error}")
        return answer.body


def client_for(stack: Stack, connections: int) -> httpx.AsyncClient:
    """An async client for the stack's API with a pool of ``connections``."""
    return httpx.AsyncClient(
        base_url=stack.api_url,
        timeout=httpx.Timeout(60.0),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def gather_limited(limit: int, coros: list[Any]) -> list[Any]:
    """Run coroutines with at most ``limit`` in flight (setup steps)."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


def publish_video(stack: Stack, video_id: str, author: str, visibility: str = "public") -> None:
    """A ``video.published`` event on the video-events topic (the share domain's input)."""
    from local.seed import video_topic_arn

    sns = stack.session().client("sns")
    event = {
        "type": "video.published",
        "video_id": video_id,
        "author_id": author,
        "title": f"Bench video {video_id}",
        "visibility": visibility,
        "occurred_at": "2026-01-01T00:00:00.000Z",
    }
    sns.publish(
        TopicArn=video_topic_arn(sns),
        Message=json.dumps(event),
        MessageAttributes={"type": {"DataType": "String", "StringValue": "video.published"}},
    )


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation), 0 for no values."""
    if not values:
        return 0.0
    import numpy as np

    return float(np.percentile(np.asarray(values), q))
