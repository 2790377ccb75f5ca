"""Cold start: ``import app`` + building the handlers' clients, against bare ``import boto3``,
each in fresh interpreters (median of N), plus the heaviest project modules by import time."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BARE = "import time; t=time.perf_counter(); import boto3; print(time.perf_counter()-t)"
APP = (
    "import time; t=time.perf_counter(); import app; "
    "from functions.core import clients; clients.dynamodb(); clients.s3(); clients.sns(); "
    "print(time.perf_counter()-t)"
)
APP_IMPORT_ONLY = "import time; t=time.perf_counter(); import app; print(time.perf_counter()-t)"
BARE_CLIENT = (
    "import time; t=time.perf_counter(); import boto3; s=boto3.session.Session(); "
    "s.client('dynamodb', region_name='us-east-1'); print(time.perf_counter()-t)"
)


@dataclass
class ColdStart:
    """Medians in milliseconds."""

    runs: int
    bare_boto3_ms: float
    bare_boto3_client_ms: float
    import_app_ms: float
    import_app_and_clients_ms: float
    top_modules: list[tuple[str, float]]

    @property
    def ratio_import(self) -> float:
        """``import app`` ÷ ``import boto3``."""
        return self.import_app_ms / self.bare_boto3_ms

    @property
    def ratio_with_clients(self) -> float:
        """(``import app`` + clients) ÷ (``import boto3`` + one client)."""
        return self.import_app_and_clients_ms / self.bare_boto3_client_ms


def _env() -> dict[str, str]:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def _time(code: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1]) * 1000


def top_project_modules(limit: int = 10) -> list[tuple[str, float]]:
    """``python -X importtime -c 'import app'``: the project's own modules by cumulative ms."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s+(.*)$", line)
        if m and m.group(3).strip().split(".")[0] in {"app", "functions"}:
            rows.append((m.group(3).strip(), int(m.group(2)) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:limit]


def measure(runs: int = 10, progress: object = None) -> ColdStart:
    """Interleave the variants so machine noise hits them alike."""
    samples: dict[str, list[float]] = {"bare": [], "bare_client": [], "app": [], "app_clients": []}
    _time(APP)  # warm the .pyc cache once
    for _ in range(runs):
        samples["bare"].append(_time(BARE))
        samples["bare_client"].append(_time(BARE_CLIENT))
        samples["app"].append(_time(APP_IMPORT_ONLY))
        samples["app_clients"].append(_time(APP))
        if progress is not None:
            progress.update(1)  # type: ignore[attr-defined]
    return ColdStart(
        runs=runs,
        bare_boto3_ms=statistics.median(samples["bare"]),
        bare_boto3_client_ms=statistics.median(samples["bare_client"]),
        import_app_ms=statistics.median(samples["app"]),
        import_app_and_clients_ms=statistics.median(samples["app_clients"]),
        top_modules=top_project_modules(),
    )
