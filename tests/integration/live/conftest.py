"""Fixtures for the live domain: a controllable clock, a pump that drives the projection from
moto's DynamoDB stream, and counters of AWS calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.pump import stream_record
from tests.conftest import ApiClient, body_of
from tests.support.clock import Clock
from tests.support.env import auth_headers
from tests.support.streams import REGION, streams_client


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze the live domain's clock (routes and projection) at a whole second."""
    from chalicelib.core.clock import now_ms
    from chalicelib.live import api as live_api
    from chalicelib.live import projections

    c = Clock((now_ms() // 1000) * 1000)
    monkeypatch.setattr(live_api, "now_ms", c)
    monkeypatch.setattr(projections, "now_ms", c)
    return c


class StreamPump:
    """Reads the table's stream in moto and feeds the changes to the live projection, as the
    projector Lambda would (one batch per call)."""

    def __init__(self) -> None:
        from chalicelib.core import clients
        from chalicelib.core.settings import get_settings

        ddb = clients.dynamodb()
        arn = ddb.describe_table(TableName=get_settings().table_name)["Table"]["LatestStreamArn"]
        self._streams = streams_client()
        self._arn = arn
        shards = self._streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self._iterators = [
            self._streams.get_shard_iterator(
                StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for s in shards
        ]

    def records(self) -> list[dict[str, Any]]:
        """Lambda-shaped records written since the last read."""
        records = []
        for i, iterator in enumerate(self._iterators):
            out = self._streams.get_records(ShardIterator=iterator)
            self._iterators[i] = out["NextShardIterator"]
            records += [stream_record(r, self._arn, REGION) for r in out["Records"]]
        return records

    def read(self) -> list[Any]:
        """Changes written since the last read."""
        from chalicelib.core.streams import change_from_record

        return [change_from_record(r) for r in self.records()]

    def deliver(self) -> int:
        """Invoke the deployed projector Lambda handler with one batch, as Lambda would."""
        from app import app

        records = self.records()
        if records:
            app.handler_map["project_live_snapshots"]({"Records": records}, None)
        return len(records)

    def project(self) -> int:
        """Apply one batch of new changes to the live projection; returns its size."""
        from chalicelib.live import projections

        changes = self.read()
        if changes:
            projections.apply(changes)
        return len(changes)


@pytest.fixture
def pump(aws: dict[str, str]) -> StreamPump:
    """A stream pump over the test table."""
    return StreamPump()


class CallCounter:
    """Counts boto3 API calls by operation name (``PutObject``, ``TransactWriteItems``...)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def count(self, name: str | None = None) -> int:
        """Calls of one operation, or all calls."""
        return len(self.calls) if name is None else self.calls.count(name)

    def reset(self) -> None:
        """Forget the calls so far."""
        self.calls.clear()


@pytest.fixture
def aws_calls(aws: dict[str, str]) -> Iterator[CallCounter]:
    """Counts every DynamoDB and S3 call made through the app's clients."""
    from chalicelib.core import clients

    counter = CallCounter()
    for client in (clients.dynamodb(), clients.s3()):
        client.meta.events.register("before-call", counter)
    yield counter
    for client in (clients.dynamodb(), clients.s3()):
        client.meta.events.unregister("before-call", counter)


def start_stream(api: ApiClient, host: str = "host", **extra: Any) -> str:
    """Start a stream as ``host``; returns its id."""
    response = api.post("/v1/streams", {"title": "Friday live", **extra}, user=host)
    assert response.status_code == 201, response.body
    return str(body_of(response)["stream_id"])


def post(api: ApiClient, stream_id: str, user: str, text: str, cmid: str | None = None) -> Any:
    """Post a chat message."""
    body = {"client_message_id": cmid or f"{user}-{text}", "text": text}
    return api.post(f"/v1/streams/{stream_id}/chat", body, headers=auth_headers(user))
