"""The lock files agree with pyproject.toml, so `make venv` and the Lambda zip hold what was declared."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(*groups: str) -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for group in groups:
        specs += project["optional-dependencies"][group]
    pins = {}
    for spec in specs:
        match = PIN.match(spec)
        assert match, f"{spec!r} is not pinned with =="
        pins[_norm(match[1])] = match[2]
    return pins


def _locked(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[_norm(match[1])] = match[2]
    return pins


def test_the_runtime_lock_pins_every_declared_runtime_dependency_with_hashes() -> None:
    # Given the runtime dependencies pyproject.toml declares
    declared = _declared()
    # When requirements.txt (what Chalice packages) is read
    locked = _locked("requirements.txt")
    # Then every one is locked at its declared version, boto3/botocore included, with hashes
    assert {name: locked.get(name) for name in declared} == declared
    assert {"boto3", "botocore"} <= set(locked)
    assert "--hash=sha256:" in (ROOT / "requirements.txt").read_text()


def test_the_dev_lock_holds_the_runtime_lock_and_the_dev_tools() -> None:
    # Given everything pyproject.toml declares
    declared = _declared("dev")
    # When requirements-dev.lock (what make venv installs) is read
    locked = _locked("requirements-dev.lock")
    runtime = _locked("requirements.txt")
    # Then it pins each declared package at its version, and the runtime packages as the zip has them
    assert {name: locked.get(name) for name in declared} == declared
    assert {name: locked.get(name) for name in runtime} == runtime
