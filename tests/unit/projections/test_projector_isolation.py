"""Each read model has its own stream function: one failing projector holds back no other."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core.streams import StreamChange
from chalicelib.dm import projections as dm_projections
from chalicelib.live import projections as live_projections
from chalicelib.share import projections as share_projections

PROJECTORS = {
    "project_inbox": dm_projections,
    "project_live_snapshots": live_projections,
    "project_share_interactions": share_projections,
}


def _record(sequence: str) -> dict[str, Any]:
    return {
        "eventID": sequence,
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "awsRegion": "us-east-1",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/socialvideo/stream/x",
        "dynamodb": {
            "Keys": {"pk": {"S": "c#1"}, "sk": {"S": f"m#{sequence}"}},
            "NewImage": {"pk": {"S": "c#1"}, "sk": {"S": f"m#{sequence}"}, "entity": {"S": "message"}},
            "ApproximateCreationDateTime": 1764720000.0,
            "SequenceNumber": sequence,
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[StreamChange]]]:
    """Every domain's ``apply`` replaced by a recorder; the inbox one always fails."""
    seen: dict[str, list[list[StreamChange]]] = {name: [] for name in PROJECTORS}
    for name, module in PROJECTORS.items():

        def apply(changes: list[StreamChange], _name: str = name) -> None:
            seen[_name].append(changes)
            if _name == "project_inbox":
                raise RuntimeError("inbox store unavailable")

        monkeypatch.setattr(module, "apply", apply)
    return seen


def test_a_failing_read_model_fails_only_its_own_function(
    applied: dict[str, list[list[StreamChange]]],
) -> None:
    from app import app

    event = {"Records": [_record("100"), _record("200")]}

    # When the same batch reaches each projector's stream function, and the inbox one fails
    with pytest.raises(RuntimeError, match="inbox"):
        app.handler_map["project_inbox"](event, None)
    app.handler_map["project_live_snapshots"](event, None)
    app.handler_map["project_share_interactions"](event, None)

    # Then only the inbox function raised (Lambda retries, bisects and parks only its batch),
    # and the other read models got every change of the batch, in order
    for name in ("project_live_snapshots", "project_share_interactions"):
        [changes] = applied[name]
        assert [c.new["sk"] for c in changes if c.new] == ["m#100", "m#200"]
    assert len(applied["project_inbox"]) == 1


def test_every_projector_function_feeds_exactly_one_read_model(
    applied: dict[str, list[list[StreamChange]]],
) -> None:
    from app import app

    # Given the live function invoked alone
    app.handler_map["project_live_snapshots"]({"Records": [_record("300")]}, None)

    # Then no other read model saw the batch
    assert [len(v) for v in applied.values()] == [0, 1, 0]
