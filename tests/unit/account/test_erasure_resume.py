"""Unit (fakes): the erasure resumes after a crash half-way and finishes exactly once per step."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest

from chalicelib.account import logic
from chalicelib.account.ports import DONE, PENDING, Deletion, Export


class FakeStore:
    def __init__(self) -> None:
        self.marker: Deletion | None = None

    def create_deletion(self, deletion: Deletion) -> Deletion:
        self.marker = self.marker or deletion
        return self.marker

    def deletion(self, user_id: str) -> Deletion | None:
        return self.marker

    def mark_step(self, user_id: str, step: str) -> None:
        assert self.marker
        self.marker = dataclasses.replace(self.marker, done_steps=self.marker.done_steps | {step})

    def finish_deletion(self, user_id: str, now_ms: int) -> None:
        assert self.marker
        self.marker = dataclasses.replace(self.marker, status=DONE)

    def mark_swept(self, user_id: str, now_ms: int) -> None:
        assert self.marker
        self.marker = dataclasses.replace(self.marker, swept=True)

    def create_export(self, export: Export, not_before_ms: int) -> int | None:
        raise NotImplementedError

    def export(self, user_id: str, export_id: str) -> Export | None:
        raise NotImplementedError

    def export_ready(self, user_id: str, export_id: str, archive_key: str, now_ms: int) -> None:
        raise NotImplementedError


class CrashError(Exception):
    pass


class FakeErasure:
    """Counts what each step changed; ``crash_in`` raises once in that step after half its work."""

    def __init__(self, crash_in: str | None) -> None:
        self.crash_in = crash_in
        self.followers = {"bob", "carol", "dave", "erin"}  # edges still to remove
        self.removed: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        def step(*args: Any) -> Any:
            self.calls[name] += 1
            return [] if name == "conversations_of" else 0

        return step

    def graph_edges(self, user_id: str) -> dict[str, list[str]]:
        return {"followers": sorted(self.followers)}

    def unfollow(self, actor: str, target: str) -> None:
        if self.crash_in == "graph" and len(self.followers) == 2:
            self.crash_in = None
            raise CrashError("killed half-way")
        if actor in self.followers:  # as social's conditional unfollow: a repeat changes nothing
            self.followers.discard(actor)
            self.removed[actor] += 1


def test_a_crash_half_way_resumes_and_every_edge_is_removed_exactly_once() -> None:
    # Given a deletion whose erasure is killed half-way through the social graph
    store, erasure = FakeStore(), FakeErasure(crash_in="graph")
    logic.request_deletion(store, "alice", "01DEL", now_ms=0)
    run = {"store": store, "erasure": erasure, "user_id": "alice", "secret": "s" * 8, "sleep": lambda s: None}
    with pytest.raises(CrashError):
        logic.erase(now_ms=lambda: 1000, **run)  # type: ignore[arg-type]
    assert store.marker and store.marker.status == PENDING
    assert "graph" not in store.marker.done_steps and "devices" in store.marker.done_steps
    # When the stream retries the record
    ran = logic.erase(now_ms=lambda: 2000, **run)  # type: ignore[arg-type]
    # Then it resumes at the graph step, finishes, and each follower edge went exactly once
    assert ran[0] == "graph" and ran[-1] == "sweep"
    assert "connections" not in ran and "devices" not in ran
    assert erasure.followers == set() and set(erasure.removed.values()) == {1}
    assert store.marker.status == DONE and store.marker.swept
    # And a replay of the finished erasure changes nothing
    before = Counter(erasure.calls)
    assert logic.erase(now_ms=lambda: 3000, **run) == []  # type: ignore[arg-type]
    assert erasure.calls == before


def test_the_sweep_waits_out_the_other_containers_cache() -> None:
    store, erasure = FakeStore(), FakeErasure(crash_in=None)
    logic.request_deletion(store, "alice", "01DEL", now_ms=0)
    slept: list[float] = []
    logic.erase(store, erasure, "alice", secret="s" * 8, now_ms=lambda: 5000, sleep=slept.append)
    assert slept == [(logic.SWEEP_DELAY_MS - 5000) / 1000]
