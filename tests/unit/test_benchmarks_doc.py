"""docs/benchmarks.md is what ``make bench`` renders from the committed results, and has every
section: two partial runs on clones without the kept results once wrote a document that had
silently lost cold start, load, flash sale, real-time and faults."""

from __future__ import annotations

import json

import bench.__main__ as bench_main
from bench.report import render


def test_the_committed_results_hold_every_section() -> None:
    # Given the results committed beside the document
    state = json.loads(bench_main.STATE.read_text())
    # Then every benchmark section has a run on record, with its date
    assert sorted(state["sections"]) == sorted(bench_main.SECTIONS)
    assert all(section.get("date") for section in state["sections"].values())


def test_the_document_is_the_rendering_of_the_committed_results() -> None:
    # Given the committed results
    state = json.loads(bench_main.STATE.read_text())
    # When they are rendered as `make bench` does
    text = render(state)
    # Then that is the document, byte for byte (re-render: python -m bench --sections '')
    assert bench_main.DOC.read_text() == text
