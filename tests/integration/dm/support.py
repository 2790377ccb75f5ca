"""Helpers for dm integration tests: social graph state written directly, a stream pump that
drives the dm projection like the local event pump does, and an AWS call counter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.core import clients, keys
from chalicelib.core.ddb import serialize
from chalicelib.core.settings import get_settings
from chalicelib.core.streams import StreamChange, change_from_record
from chalicelib.dm import projections
from local.pump import stream_record
from tests.support.streams import REGION, streams_client


def _put(item: dict[str, Any]) -> None:
    clients.dynamodb().put_item(TableName=get_settings().table_name, Item=serialize(item))


def set_policy(user: str, policy: str) -> None:
    """The user's DM policy (``everyone`` | ``friends`` | ``no_one``) on their profile item."""
    _put({**keys.profile(user), "entity": "profile", "user_id": user, "dm_policy": policy})


def follow(follower: str, followee: str) -> None:
    """A follow edge."""
    _put({**keys.following(follower, followee), "entity": "following"})


def befriend(a: str, b: str) -> None:
    """Mutual follows."""
    follow(a, b)
    follow(b, a)


def block(blocker: str, blocked: str) -> None:
    """A block edge."""
    _put({**keys.block(blocker, blocked), "entity": "block"})


class StreamPump:
    """Reads the table's stream from the start and feeds new records to the dm projection."""

    def __init__(self) -> None:
        table = clients.dynamodb().describe_table(TableName=get_settings().table_name)["Table"]
        self._streams = streams_client()
        self._arn = table["LatestStreamArn"]
        self._iterators: dict[str, str | None] = {}
        self.changes: list[StreamChange] = []

    def _new_changes(self) -> list[StreamChange]:
        shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        found: list[StreamChange] = []
        for shard in shards:
            sid = shard["ShardId"]
            if sid not in self._iterators:
                self._iterators[sid] = self._streams.get_shard_iterator(
                    StreamArn=self._arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            iterator = self._iterators[sid]
            while iterator:
                out = self._streams.get_records(ShardIterator=iterator)
                records = out.get("Records", [])
                found += [change_from_record(stream_record(r, self._arn, REGION)) for r in records]
                iterator = out.get("NextShardIterator")
                self._iterators[sid] = iterator
                if not records:
                    break
        return found

    def pump(self) -> list[StreamChange]:
        """Project everything committed since the last pump; returns those changes."""
        new = self._new_changes()
        if new:
            projections.apply(new)
        self.changes += new
        return new


@contextmanager
def count_calls() -> Iterator[list[str]]:
    """Record the operation names of DynamoDB and S3 API calls made through the shared clients."""
    seen: list[str] = []

    def hook(model: Any, **_: Any) -> None:
        seen.append(model.name)

    ddb, s3 = clients.dynamodb(), clients.s3()
    for client in (ddb, s3):
        client.meta.events.register("before-call", hook)
    try:
        yield seen
    finally:
        for client in (ddb, s3):
            client.meta.events.unregister("before-call", hook)
