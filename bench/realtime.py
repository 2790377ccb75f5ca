"""Real-time delivery over the local WebSocket gateway, with a real ``websockets`` client against
a fresh local stack (API, event pump, WebSocket gateway, serialised moto):

- *connect-to-first-frame*: open a socket (URL from ``GET /v1/realtime``, JWT in the ``token``
  query parameter), send ``{"action": "ping"}`` at once, time until ``{"type": "pong"}`` — a
  fresh connection per sample;
- *send-to-receive*: with the recipient's socket open, ``POST`` a DM over HTTP and time until its
  ``{"type": "message.new"}`` frame arrives. Samples start at least ``PACE_S`` apart (plus a
  little jitter, so they do not lock onto the pump's poll period), well under the DM rate limit
  (5/s per sender, burst 10).

One unrecorded warm-up of each precedes the samples (first use of the handlers' clients).
The approach is the one of ``tests/e2e/test_realtime_e2e.py``; its helpers are copied here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.stack import Api, client_for, local_stack

CONNECT_SAMPLES = 20
SEND_SAMPLES = 30
WARMUP = 1
PACE_S = 0.25
JITTER_S = 0.1
FRAME_TIMEOUT_S = 5.0
ALICE = "bench-rt-alice"
BOB = "bench-rt-bob"


@dataclass
class RealtimeResult:
    """Latencies in ms (one entry per sample) and what was lost."""

    connect_ms: list[float]  # socket opened → pong received (connect-to-first-frame)
    handshake_ms: list[float]  # socket opened → upgrade accepted (part of the above)
    send_ms: list[float]  # POST sent → message.new received (send-to-receive)
    post_ms: list[float]  # POST sent → 201 answered (part of the above)
    lost: int  # message.new frames not received within FRAME_TIMEOUT_S
    stack_start_s: float
    setup_s: float
    pace_s: float = PACE_S


class _Inbox:
    """Arrival times of ``message.new`` frames by message id, stamped as the frame is read (a
    frame may arrive before the POST that caused it has been answered)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.waiting: dict[str, asyncio.Future[float]] = {}

    def on_frame(self, frame: dict[str, Any], at: float) -> None:
        if frame.get("type") != "message.new":
            return
        message_id = str((frame.get("message") or {}).get("message_id"))
        future = self.waiting.pop(message_id, None)
        if future is not None and not future.done():
            future.set_result(at)
        else:
            self.arrived[message_id] = at

    async def wait(self, message_id: str, timeout: float) -> float:
        if message_id in self.arrived:
            return self.arrived.pop(message_id)
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[message_id] = future
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self.waiting.pop(message_id, None)


async def _read(socket: ClientConnection, inbox: _Inbox) -> None:
    async for raw in socket:
        at = time.perf_counter()
        inbox.on_frame(json.loads(raw), at)


async def _setup(api: Api) -> tuple[str, str]:
    """Alice and Bob are friends (mutual follows) with a direct conversation; Bob's socket URL."""
    for follower, followee in ((ALICE, BOB), (BOB, ALICE)):
        await api.ok("PUT", f"/v1/users/{followee}/follow", follower)
    conversation = await api.ok("POST", "/v1/conversations", ALICE, {"member_ids": [BOB]})
    discovery = await api.ok("GET", "/v1/realtime", BOB)
    return str(conversation["conversation_id"]), f"{discovery['url']}/?token={api.token(BOB)}"


async def _connect_to_first_frame(url: str) -> tuple[float, float]:
    """One fresh connection: (handshake, pong) in ms since the connect started."""
    started = time.perf_counter()
    async with connect(url, open_timeout=FRAME_TIMEOUT_S) as socket:
        opened = time.perf_counter()
        await socket.send(json.dumps({"action": "ping"}))
        deadline = started + FRAME_TIMEOUT_S
        while True:
            raw = await asyncio.wait_for(socket.recv(), max(0.0, deadline - time.perf_counter()))
            if json.loads(raw).get("type") == "pong":
                return (opened - started) * 1000, (time.perf_counter() - started) * 1000


async def _send_to_receive(
    api: Api, inbox: _Inbox, conversation_id: str, text: str
) -> tuple[float, float] | None:
    """One DM from Alice: (POST answered, frame received) in ms since the POST was sent, or
    ``None`` when the frame did not arrive in time."""
    started = time.perf_counter()
    body = {"client_message_id": uuid.uuid4().hex, "text": text}
    answer = await api.call("POST", f"/v1/conversations/{conversation_id}/messages", ALICE, body)
    if answer.status != 201:
        raise RuntimeError(f"send DM → {answer.status} {answer.body!r} {answer.error}")
    posted = time.perf_counter()
    try:
        received = await inbox.wait(str(answer.body["message_id"]), FRAME_TIMEOUT_S)
    except TimeoutError:
        return None
    return (posted - started) * 1000, (received - started) * 1000


async def _run(connect_samples: int, send_samples: int, seed_value: int, progress: Any) -> RealtimeResult:
    started = time.perf_counter()
    rng = random.Random(seed_value)
    with local_stack("realtime") as stack:
        stack_start_s = time.perf_counter() - started
        async with client_for(stack, 4) as client:
            api = Api(stack, client)
            setup_started = time.perf_counter()
            conversation_id, url = await _setup(api)
            for _ in range(WARMUP):
                await _connect_to_first_frame(url)
            setup_s = time.perf_counter() - setup_started

            handshake_ms: list[float] = []
            connect_ms: list[float] = []
            for _ in range(connect_samples):
                opened, pong = await _connect_to_first_frame(url)
                handshake_ms.append(opened)
                connect_ms.append(pong)
                if progress is not None:
                    progress.update(1)

            post_ms: list[float] = []
            send_ms: list[float] = []
            lost = 0
            inbox = _Inbox()
            async with connect(url, open_timeout=FRAME_TIMEOUT_S) as socket:
                reader = asyncio.create_task(_read(socket, inbox))
                next_at = time.perf_counter()
                for i in range(-WARMUP, send_samples):
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                    next_at = time.perf_counter() + PACE_S + rng.uniform(0, JITTER_S)
                    sample = await _send_to_receive(api, inbox, conversation_id, f"bench realtime {i}")
                    if i < 0:
                        continue  # warm-up
                    if sample is None:
                        lost += 1
                    else:
                        post_ms.append(sample[0])
                        send_ms.append(sample[1])
                    if progress is not None:
                        progress.update(1)
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    return RealtimeResult(connect_ms, handshake_ms, send_ms, post_ms, lost, stack_start_s, setup_s)


def run(
    connect_samples: int = CONNECT_SAMPLES,
    send_samples: int = SEND_SAMPLES,
    seed_value: int = 7,
    progress: Any = None,
) -> RealtimeResult:
    """Start a fresh local stack and measure both latencies (``progress`` ticks once a sample)."""
    return asyncio.run(_run(connect_samples, send_samples, seed_value, progress))
