"""The local stack's settings and child environments, and the Lambda-shaped stream records the
test pumps build with ``local.pump.stream_record``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local import stack as stack_module
from local.pump import stream_record
from local.stack import Stack, StackSettings


def test_a_throwaway_stack_gets_free_ports_its_state_dir_and_the_other_fields(tmp_path: Path) -> None:
    # When settings are made on free ports with an extra field
    settings = StackSettings.on_free_ports(tmp_path, extra_env={"K": "V"})
    # Then the ports are real ports, the files go to state_dir and the rest are defaults
    assert all(0 < p < 65536 for p in (settings.port, settings.ws_port, settings.moto_port))
    assert settings.state_dir == tmp_path and settings.extra_env == {"K": "V"}
    assert Stack(settings).log_dir == tmp_path / "logs"
    assert (settings.moto_module, settings.moto_timeout_s) == ("local.moto_server", 20.0)


def test_a_child_started_with_extra_environment_gets_it_over_the_stack_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack whose parent environment names another moto port
    monkeypatch.setenv("MOTO_PORT", "1")
    seen: dict[str, Any] = {}

    class FakePopen:
        def __init__(self, args: list[str], **kwargs: Any) -> None:
            seen.update(kwargs)

    monkeypatch.setattr(stack_module.subprocess, "Popen", FakePopen)
    stack = Stack(StackSettings.on_free_ports(tmp_path))
    # When moto is spawned with its own port in the environment
    stack._spawn("moto", ["moto"], env={"MOTO_PORT": "4567"})
    for log in stack._logs:
        log.close()
    # Then that value wins, and the stack's environment is still there
    assert seen["env"]["MOTO_PORT"] == "4567"
    assert seen["env"]["AWS_ENDPOINT_URL"] == stack.moto_url


def test_a_get_records_record_becomes_the_change_lambda_would_deliver() -> None:
    from chalicelib.core.streams import change_from_record

    # Given a record as boto3's get_records returns it (a datetime creation time)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    record = {
        "eventID": "e1",
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"pk": {"S": "A"}, "sk": {"S": "B"}},
            "NewImage": {"pk": {"S": "A"}, "sk": {"S": "B"}, "n": {"N": "1"}},
            "SequenceNumber": "7",
            "SizeBytes": 1,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    # When it is shaped like Lambda's and read as a change
    shaped = stream_record(record, "arn:stream", "us-east-1")
    change = change_from_record(shaped)
    # Then the source ARN is set and nothing of the change is lost
    assert shaped["eventSourceARN"] == "arn:stream"
    assert (change.event_id, change.event_name, change.sequence_number) == ("e1", "INSERT", "7")
    assert change.keys == {"pk": "A", "sk": "B"} and change.new == {"pk": "A", "sk": "B", "n": 1}
    assert change.old is None and change.approximate_ms == int(created.timestamp() * 1000)
