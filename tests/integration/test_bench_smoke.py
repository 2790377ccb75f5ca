"""The calls-per-operation benchmark (``bench.calls``) as a regression test of the cost targets:
a change that adds an AWS call to a hot path fails ``make test``, not only ``make bench``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench.calls import CallsResult, Row


@pytest.fixture(scope="module")
def result() -> Iterator[CallsResult]:
    """One in-process run (mock_aws + chalice test client), with the environment restored after."""
    from bench import calls
    from tests.support.env import reset_caches

    saved = dict(os.environ)
    try:
        yield calls.run()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_caches()


def _row(result: CallsResult, operation: str) -> Row:
    rows = {r.operation: r for r in result.rows}
    assert operation in rows, f"no row {operation!r}; rows: {sorted(rows)}"
    return rows[operation]


def test_every_listed_operation_has_a_measured_row(result: CallsResult) -> None:
    # Given the benchmark ran against the real routes
    # Then every operation of the issue has a row, answered 2xx
    for operation in (
        "follow",
        "send DM (500-char text)",
        "fetch history page",
        "inbox page",
        "share to 1 friend",
        "share to 5 friends",
        "share to 20 friends",
        "post live chat (K = 1)",
        "post live chat (K = 10)",
        "poll live chat, join (K = 1)",
        "poll live chat, join (K = 10)",
        "poll live chat, with cursor (K = 1)",
        "poll live chat, with cursor (K = 10)",
        "place order",
        "payment webhook",
    ):
        row = _row(result, operation)
        assert row.calls >= 0 and 200 <= row.status < 300, row


def test_sending_a_dm_is_one_transaction(result: CallsResult) -> None:
    row = _row(result, "send DM (500-char text)")
    assert (row.calls, row.detail) == (1, "TransactWriteItems")
    assert 0 < row.largest_item_bytes <= 1024  # a 500-char message stays one WCU


def test_share_cost_is_bounded_whatever_the_number_of_recipients(result: CallsResult) -> None:
    counts = [_row(result, f"share to {n} friend{'s' if n > 1 else ''}").calls for n in (1, 5, 20)]
    assert all(0 < c <= 4 for c in counts), counts


def test_live_chat_post_and_poll_do_not_grow_with_k(result: CallsResult) -> None:
    assert result.facts["live_shards_10"] == 10
    for kind in ("join", "with cursor"):
        polls = [_row(result, f"poll live chat, {kind} (K = {k})") for k in (1, 10)]
        assert [(p.calls, p.detail) for p in polls] == [(1, "GetObject")] * 2
    posts = [_row(result, f"post live chat (K = {k})") for k in (1, 10)]
    assert [(p.calls, p.detail) for p in posts] == [(1, "TransactWriteItems")] * 2


def test_every_row_with_a_target_meets_it(result: CallsResult) -> None:
    failing = [r for r in result.rows if r.passed is False]
    missed = [f"{r.operation}: {r.calls} ({r.detail}) vs {r.target}" for r in failing]
    missed += [f"{name}: {detail}" for name, ok, detail in result.groups if not ok]
    assert not missed, missed


def test_the_realtime_section_is_a_default_and_renders_its_table() -> None:
    # Given made-up samples (no stack: the measurement itself runs in `make bench`)
    from bench.__main__ import SECTIONS
    from bench.realtime import RealtimeResult
    from bench.report import render_realtime, summarise_realtime

    result = RealtimeResult(
        connect_ms=[30.0, 40.0, 50.0],
        handshake_ms=[10.0, 15.0, 20.0],
        send_ms=[200.0, 300.0, 400.0],
        post_ms=[40.0, 50.0, 60.0],
        lost=0,
        stack_start_s=3.0,
        setup_s=1.0,
    )
    # When it is summarised and rendered
    summary = summarise_realtime(result)
    text = "\n".join(render_realtime(summary))
    # Then both latencies have median and p95, and the section runs by default
    assert "realtime" in SECTIONS
    assert summary["send_to_receive"]["median"] == 300.0
    assert summary["after_answer"]["median"] == 250.0
    assert "| **Connect-to-first-frame** (connect → pong) | 3 | 40.0 | 49.0 | 50.0 |" in text
    assert "| **Send-to-receive** (POST sent → `message.new` frame) | 3 | 300 | 390 | 400 |" in text


def test_the_outbox_stays_at_one_publish_batch_per_ten_events_that_fit(result: CallsResult) -> None:
    # Then 100 small events take 10 PublishBatch calls, 100 ~70 KB events 34 (3 per 256 KiB),
    # and 10 events over 256 KiB one PutObject each (claim check) and one PublishBatch
    assert _row(result, "outbox: 100 small events").calls == 10
    assert _row(result, "outbox: 100 ~70 KB events (31 long-id members)").calls == 34
    assert _row(result, "outbox: 10 events over 256 KiB").detail == "PutObject x10, PublishBatch"


def test_the_faults_section_is_a_default_and_renders_its_table() -> None:
    from bench.__main__ import SECTIONS
    from bench.faults import FaultsResult, render, summarise

    text = "\n".join(render(summarise(FaultsResult(10, 34, 280, 74776, 4.3, 22.0, 50, 0))))
    assert "faults" in SECTIONS
    assert "| PublishBatch calls / 100 ~70 KB events (74776 B each) | 34 |" in text
    assert "| Recovery: last message.sent on the tap queue - outage end | 4.3 s | |" in text
