"""``make package`` produces a deployable artifact: cfn-lint clean, coherent with the infra
template, and a zip that contains ``functions/`` and imports with only its own dependencies.

Runs the real ``chalice package`` once per test session (downloads Linux wheels from PyPI the
first time, ~10-60 s); ``tests/integration/test_prod_template.py`` reuses the same build.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from local.package import STREAM_ARN, package

ROOT = Path(__file__).resolve().parent.parent.parent


def prod_build() -> Path:
    """``build/`` of a prod package, built ONCE per test session and shared by every module
    (and by pytest-xdist workers of the same run, through a directory keyed by the run id)."""
    return _prod_build(os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}")


@functools.cache
def _prod_build(run_id: str) -> Path:
    import fcntl

    base = Path(tempfile.gettempdir())
    for stale in base.glob("socialvideo-package-*"):
        if stale.is_dir() and time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    root = base / f"socialvideo-package-{run_id}"
    root.mkdir(exist_ok=True)
    out = root / "build"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".done").exists():
            package("prod", out)
            (root / ".done").touch()
    return out


@pytest.fixture(scope="module")
def artifact() -> Path:
    """``build/`` of the session's prod package."""
    return prod_build()


@pytest.fixture(scope="module")
def sam(artifact: Path) -> dict[str, Any]:
    """The generated SAM template."""
    template: dict[str, Any] = json.loads((artifact / "sam.json").read_text())
    return template


def test_template_passes_cfn_lint(artifact: Path) -> None:
    # Given the packaged template / When cfn-lint reads it / Then it reports nothing
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(artifact / "sam.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_holds_the_infra_resources(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    assert resources["Table"]["Type"] == "AWS::DynamoDB::Table"
    assert resources["Table"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert resources["MediaBucket"]["Type"] == "AWS::S3::Bucket"
    assert {resources[t]["Type"] for t in ("EventsTopic", "VideoEventsTopic")} == {"AWS::SNS::Topic"}
    # The tap queue is a local-stage convenience only.
    assert sam["Parameters"]["Stage"]["Default"] == "prod"
    assert resources["EventsTapQueue"]["Condition"] == "IsLocal"


def test_every_stream_consumer_reads_the_tables_stream_from_the_start(sam: dict[str, Any]) -> None:
    from app import app

    consumers = [c.name for c in app.event_sources if type(c).__name__ == "DynamoDBEventConfig"]
    assert consumers, "the app declares no stream consumer"
    functions = {
        name: resource
        for name, resource in sam["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    ddb_events = [
        event["Properties"]
        for function in functions.values()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "DynamoDB"
    ]
    assert len(ddb_events) == len(consumers)
    for properties in ddb_events:
        assert properties["Stream"] == STREAM_ARN
        assert properties["StartingPosition"] == "TRIM_HORIZON"
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_sns_subscriptions_name_topics_the_template_creates(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    topic_names = {
        resources[t]["Properties"]["TopicName"]["Fn::Sub"].replace("${Prefix}", "socialvideo")
        for t in ("EventsTopic", "VideoEventsTopic")
    }
    subscribed = [
        event["Properties"]["Topic"]["Fn::Sub"].rsplit(":", 1)[-1]
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "SNS"
    ]
    assert set(subscribed) <= topic_names


def test_zip_contains_functions_and_imports_with_its_own_dependencies(artifact: Path, tmp_path: Path) -> None:
    # Given the deployment zip unpacked like Lambda does
    with zipfile.ZipFile(artifact / "deployment.zip") as archive:
        names = archive.namelist()
        archive.extractall(tmp_path)
    assert "app.py" in names
    assert "functions/__init__.py" in names
    assert "functions/core/web.py" in names

    # When `app` is imported by an interpreter that sees only the stdlib and the zip
    # (-I: no user/env paths, -S: no site-packages; boto3 comes with the Lambda runtime)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import app, functions; "
        "print(app.app.app_name, functions.__file__, len(app.app.handler_map))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )

    # Then it imports, from the zip's copy of functions/
    assert result.returncode == 0, result.stderr
    name, functions_file, handlers = result.stdout.split()
    assert name == "socialvideo"
    assert functions_file == str(tmp_path / "functions" / "__init__.py")
    assert int(handlers) > 1
