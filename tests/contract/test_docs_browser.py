"""The docs page renders its operations list in headless Chromium (against the local stack)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.local_stack import LocalStack

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium() -> str:
    """The Chromium binary (Debian's ``chromium`` package, installed by the test setup)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is missing: apt-get update && apt-get install -y chromium"
    return found


def rendered_dom(url: str, profile: Path, budget_ms: int = 20_000) -> str:
    """The DOM of ``url`` after its scripts ran (``--virtual-time-budget`` waits for fetches)."""
    result = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_docs_page_renders_the_operations_list(local_stack: LocalStack, tmp_path: Path) -> None:
    # Given the local stack serving /v1/docs (Swagger UI from our own asset routes)
    url = f"{local_stack.api_url}/v1/docs"

    # When headless Chromium loads it and runs its scripts
    dom = rendered_dom(url, tmp_path / "profile")

    # Then Swagger UI rendered the spec: title, tags and operation blocks with their summaries
    assert "socialvideo API" in dom
    assert dom.count("opblock-summary-description") >= 50
    assert "Share a video to 1 to 20 people and conversations in one call" in dom
    assert "Buy a pinned product" in dom
    assert "opblock-tag" in dom
    assert "Unable to render this definition" not in dom
