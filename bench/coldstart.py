"""Cold start: ``import app`` (+ building the handlers' clients) against bare ``import boto3``
(+ the same clients), each in fresh interpreters (median of N, variants interleaved so machine
noise hits them alike), plus ``python -X importtime`` for the project's own modules and the
third-party packages that dominate."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5
PROJECT_ROOTS = {"app", "chalicelib"}

_CLIENTS = "for _s in ('dynamodb', 's3', 'sns'): _c = _S.client(_s, region_name='us-east-1')\n"
VARIANTS = {
    "bare": "import boto3\n",
    "bare_clients": "import boto3\n_S = boto3.session.Session()\n" + _CLIENTS,
    "app": "import app\n",
    "app_clients": (
        "import app\nfrom chalicelib.core import clients\nclients.dynamodb(); clients.s3(); clients.sns()\n"
    ),
}
LABELS = {
    "bare": "`import boto3`",
    "bare_clients": "`import boto3` + dynamodb, s3, sns clients",
    "app": "`import app`",
    "app_clients": "`import app` + the handlers' clients (dynamodb, s3, sns)",
}


def _timed(code: str) -> str:
    body = "".join(f"    {line}\n" for line in code.splitlines())
    return f"import time\n_t = time.perf_counter()\nif True:\n{body}print(time.perf_counter() - _t)\n"


@dataclass
class ColdStart:
    """Medians in milliseconds, and the import-time breakdown."""

    runs: int
    medians_ms: dict[str, float]
    samples_ms: dict[str, list[float]]
    project_modules: list[tuple[str, float, float]]  # (module, cumulative ms, self ms)
    third_party: list[tuple[str, float]]  # (top-level package, cumulative ms)

    @property
    def ratio_import(self) -> float:
        """``import app`` ÷ ``import boto3`` (the issue's target: ≤ 1.5)."""
        return self.medians_ms["app"] / self.medians_ms["bare"]

    @property
    def ratio_with_clients(self) -> float:
        """(``import app`` + clients) ÷ (``import boto3`` + the same clients)."""
        return self.medians_ms["app_clients"] / self.medians_ms["bare_clients"]

    @property
    def passed(self) -> bool:
        """The issue's target."""
        return self.ratio_import <= TARGET_RATIO


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def _time(code: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _timed(code)], cwd=ROOT, env=_env(), capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1]) * 1000


def _parse_importtime(stderr: str) -> list[tuple[str, float, float, str | None]]:
    """``-X importtime`` lines → (module, cumulative ms, self ms, importing module)."""
    entries: list[tuple[str, float, float, int]] = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$", line)
        if m:
            entries.append((m.group(4), int(m.group(2)) / 1000, int(m.group(1)) / 1000, len(m.group(3))))
    out: list[tuple[str, float, float, str | None]] = []
    stack: list[tuple[int, str]] = []
    for name, cumulative, self_ms, depth in reversed(entries):  # reversed: parents first
        while stack and stack[-1][0] >= depth:
            stack.pop()
        out.append((name, cumulative, self_ms, stack[-1][1] if stack else None))
        stack.append((depth, name))
    return out


def importtime(runs: int = 3) -> tuple[list[tuple[str, float, float]], list[tuple[str, float]]]:
    """``python -X importtime -c 'import app'`` (median of ``runs``): the project's modules by
    cumulative ms (with self ms), and the packages the project imports directly by the time
    attributed to them (every import the project's code makes of them, so lazily imported
    submodules count; what they import in turn is included)."""
    cumulative: dict[str, list[float]] = {}
    self_ms: dict[str, list[float]] = {}
    attributed: dict[str, list[float]] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import app"],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        per_root: dict[str, float] = {}
        for name, cum, own, parent in _parse_importtime(out.stderr):
            cumulative.setdefault(name, []).append(cum)
            self_ms.setdefault(name, []).append(own)
            root = name.split(".")[0]
            if root not in PROJECT_ROOTS and parent is not None and parent.split(".")[0] in PROJECT_ROOTS:
                per_root[root] = per_root.get(root, 0.0) + cum
        for root, ms in per_root.items():
            attributed.setdefault(root, []).append(ms)
    project = sorted(
        (
            (k, statistics.median(v), statistics.median(self_ms[k]))
            for k, v in cumulative.items()
            if k.split(".")[0] in PROJECT_ROOTS
        ),
        key=lambda r: -r[1],
    )
    third = sorted(
        ((k, statistics.median(v)) for k, v in attributed.items() if not k.startswith("_")),
        key=lambda r: -r[1],
    )
    return project[:10], third[:10]


def measure(runs: int = 10, progress: Any = None) -> ColdStart:
    """Interleave the variants so machine noise hits them alike."""
    samples: dict[str, list[float]] = {k: [] for k in VARIANTS}
    _time(VARIANTS["app_clients"])  # warm the .pyc cache once
    for _ in range(runs):
        for name, code in VARIANTS.items():
            samples[name].append(_time(code))
        if progress is not None:
            progress.update(1)
    project, third = importtime()
    return ColdStart(
        runs=runs,
        medians_ms={k: statistics.median(v) for k, v in samples.items()},
        samples_ms=samples,
        project_modules=project,
        third_party=third,
    )
