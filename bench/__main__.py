"""``python -m bench`` (``make bench``): run the benchmarks and write ``docs/benchmarks.md`` and
the plots in ``docs/img/``. A run of some sections keeps the others' last results (kept, with
the machine they ran on, in ``docs/benchmarks.json``, committed beside the document), so the
document always has every table, on any clone.

    python -m bench                       # everything (~3 minutes)
    python -m bench --quick               # fewer runs, shorter load, 200 buyers
    python -m bench --sections calls,coldstart
    python -m bench --sections flash_scale  # sharded-stock model + exactness runs
    python -m bench --sections ''          # re-render the document from the kept results
    python -m bench --users 20 --duration 45 --buyers 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import machine
from bench.report import (
    render,
    summarise_calls,
    summarise_coldstart,
    summarise_flash,
    summarise_load,
    summarise_realtime,
)

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
IMG = ROOT / "docs" / "img"
# Committed, so a partial run on a fresh clone keeps the other sections (kept under .local/
# they were lost, and the document lost its tables with them).
STATE = DOC.with_suffix(".json")
SECTIONS = ("calls", "coldstart", "load", "flash", "flash_scale", "realtime", "faults")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    p.add_argument("--quick", action="store_true", help="a fast smoke run (numbers not for quoting)")
    p.add_argument("--runs", type=int, help="cold-start interpreters per variant (default 10; quick 3)")
    p.add_argument("--users", type=int, default=20, help="load: virtual users (default 20)")
    p.add_argument("--duration", type=float, help="load: seconds (default 45; quick 15)")
    p.add_argument("--think", default="1.0,3.0", help="load: think time range in s (default 1.0,3.0)")
    p.add_argument("--buyers", type=int, help="flash sale: buyers (default 1000; quick 200)")
    p.add_argument("--connections", type=int, default=32, help="flash sale: HTTP connections (default 32)")
    p.add_argument("--no-write", action="store_true", help="print the report instead of writing docs/")
    return p.parse_args(argv)


def _load_state() -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(STATE.read_text())
        return state
    except (OSError, ValueError):
        return {"sections": {}}


def _section(data: dict[str, Any]) -> dict[str, Any]:
    return {"date": machine.now(), "load": machine.load_average(), "data": data}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections; returns 1 when a target was missed or a section failed."""
    args = _args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {sorted(unknown)} (choose from {SECTIONS})")
    runs = args.runs or (3 if args.quick else 10)
    duration = args.duration or (15.0 if args.quick else 45.0)
    buyers = args.buyers or (200 if args.quick else 1000)
    think = tuple(float(v) for v in args.think.split(","))
    IMG.mkdir(parents=True, exist_ok=True)
    state = _load_state()
    if chosen:  # a re-render (``--sections ''``) keeps the machine the numbers came from
        state["machine"] = machine.facts()
    failures: list[str] = []
    started = time.perf_counter()

    if "calls" in chosen:
        from bench import calls
        from bench.calls import SCENARIOS

        with tqdm(total=len(SCENARIOS), desc="calls per operation", unit="scenario") as bar:
            result = calls.run(progress=bar)
        state["sections"]["calls"] = _section(summarise_calls(result))
        failures += [f"calls: {r.operation}" for r in result.rows if r.passed is False]
        failures += [f"calls: {name}" for name, ok, _ in result.groups if not ok]

    if "coldstart" in chosen:
        from bench import coldstart

        with tqdm(total=runs, desc="cold start", unit="round") as bar:
            cold = coldstart.measure(runs=runs, progress=bar)
        state["sections"]["coldstart"] = _section(summarise_coldstart(cold))
        if not cold.passed:
            failures.append(f"coldstart: import app = {cold.ratio_import:.2f}x import boto3")

    if "load" in chosen:
        from bench import load

        with tqdm(total=int(duration), desc=f"load ({args.users} users)", unit="s") as bar:
            result_load = load.run(
                users=args.users, duration=duration, think=(think[0], think[1]), progress=bar
            )
        load.plot(result_load, IMG / "load_latency.png")
        state["sections"]["load"] = _section(summarise_load(result_load))
        if result_load.total_errors:
            failures.append(f"load: {result_load.total_errors} errors")

    if "flash" in chosen:
        from bench import flash

        with tqdm(total=buyers, desc="flash sale", unit="buyer") as bar:
            result_flash = flash.run(buyers=buyers, connections=args.connections, progress=bar)
        flash.plot(result_flash, IMG / "flash_sale.png")
        state["sections"]["flash"] = _section(summarise_flash(result_flash))
        failures += [f"flash: {name}" for name, ok, _ in result_flash.checks if not ok]

    if "flash_scale" in chosen:
        from bench import flash_scale

        with tqdm(total=len(flash_scale.RUNS), desc="flash sale at scale", unit="run") as bar:
            result_scale = flash_scale.run(progress=bar)
        state["sections"]["flash_scale"] = _section(flash_scale.summarise(result_scale))
        failures += [f"flash_scale: {name}" for r in result_scale.runs for name, ok, _ in r.checks if not ok]
        if not result_scale.default_sizing["meets_target"]:
            failures.append("flash_scale: default sizing below 10,000 orders/s")

    if "realtime" in chosen:
        from bench import realtime

        total = realtime.CONNECT_SAMPLES + realtime.SEND_SAMPLES
        with tqdm(total=total, desc="realtime latency", unit="sample") as bar:
            result_rt = realtime.run(progress=bar)
        state["sections"]["realtime"] = _section(summarise_realtime(result_rt))
        if result_rt.lost:
            failures.append(f"realtime: {result_rt.lost} message.new frames not received")

    if "faults" in chosen:
        from bench import faults

        print("faults: outbox calls per 100 events, then a 20 s SNS outage (~1 min)", flush=True)
        result_faults = faults.run()
        state["sections"]["faults"] = _section(faults.summarise(result_faults))
        if result_faults.delivered < faults.DMS or result_faults.duplicates:
            failures.append(
                f"faults: {result_faults.delivered} delivered, {result_faults.duplicates} duplicates"
            )

    if chosen:
        state["machine"]["load_at_end"] = machine.load_average()
    text = render(state)
    if args.no_write:
        print(text)
    else:
        STATE.write_text(json.dumps(state, indent=1, default=str) + "\n")
        DOC.write_text(text)
        print(f"wrote {DOC.relative_to(ROOT)} in {time.perf_counter() - started:.0f} s")
    for failure in failures:
        print(f"target missed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
