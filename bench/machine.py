"""Facts about the machine and the run, printed next to every table."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip()
    except OSError:
        return ""


def now() -> str:
    """The current time as the report prints it (UTC, to the minute)."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def load_average() -> str:
    """The 1/5/15-minute load averages (other work on the machine skews every number)."""
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def facts() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python, key package versions, commit, date."""
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("boto3", "botocore", "chalice", "moto", "pydantic", "aws-lambda-powertools", "httpx"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = "—"
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "date": now(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "packages": packages,
        "commit": f"{commit}{' + uncommitted changes' if dirty else ''}" if commit else "n/a",
        "load_at_start": load_average(),
    }
