"""Test helpers: social-graph items written directly, video events through the real handler,
and an AWS call counter (a botocore ``before-call`` hook)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.core import clients, keys
from chalicelib.core.ddb import deserialize, serialize, values
from chalicelib.core.settings import VIDEO_EVENTS_TOPIC_NAME, get_settings

OCCURRED = "2026-11-28T01:00:00.000Z"


def _put(item: dict[str, Any]) -> None:
    clients.dynamodb().put_item(TableName=get_settings().table_name, Item=serialize(item))


def follow(a: str, b: str) -> None:
    """``a`` follows ``b``."""
    _put({**keys.following(a, b), "entity": "following"})
    _put({**keys.follower(b, a), "entity": "follower"})


def befriend(a: str, b: str) -> None:
    """Mutual follows plus the friend markers the social domain keeps."""
    follow(a, b)
    follow(b, a)
    _put({**keys.friend(a, b), "entity": "friend"})
    _put({**keys.friend(b, a), "entity": "friend"})


def block(blocker: str, blocked: str) -> None:
    """``blocker`` blocks ``blocked``."""
    _put({**keys.block(blocker, blocked), "entity": "block"})


def set_dm_policy(user: str, policy: str) -> None:
    """A profile with a DM policy."""
    _put({**keys.profile(user), "entity": "profile", "dm_policy": policy})


def video_event(
    video_id: str,
    *,
    kind: str = "video.published",
    author: str = "carol",
    title: str = "A video",
    visibility: str = "public",
    occurred_at: str = OCCURRED,
    thumbnail_key: str | None = None,
) -> dict[str, Any]:
    """A video-platform event body."""
    event: dict[str, Any] = {
        "type": kind,
        "video_id": video_id,
        "author_id": author,
        "title": title,
        "visibility": visibility,
        "occurred_at": occurred_at,
    }
    if thumbnail_key:
        event["thumbnail_key"] = thumbnail_key
    return event


def deliver(api: Any, message: str | dict[str, Any]) -> None:
    """Deliver one SNS message to the share domain's video-events handler."""
    body = message if isinstance(message, str) else json.dumps(message)
    event = api.client.events.generate_sns_event(message=body, subject="video")
    event["Records"][0]["Sns"]["TopicArn"] = f"arn:aws:sns:us-east-1:123456789012:{VIDEO_EVENTS_TOPIC_NAME}"
    api.client.lambda_.invoke("share_video_events", event)


def publish(api: Any, video_id: str, **kw: Any) -> None:
    """Deliver a ``video.published`` (or ``kind=``) event."""
    deliver(api, video_event(video_id, **kw))


def get_item(k: keys.Key) -> dict[str, Any] | None:
    """One item by key."""
    out = clients.dynamodb().get_item(
        TableName=get_settings().table_name, Key=serialize(k), ConsistentRead=True
    )
    return deserialize(out.get("Item"))


def messages_in(conversation_id: str) -> list[dict[str, Any]]:
    """Every message item of a conversation."""
    out = clients.dynamodb().query(
        TableName=get_settings().table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
        ExpressionAttributeValues=values(pk=keys.conversation_pk(conversation_id), msg="MSG#"),
    )
    return [deserialize(i) or {} for i in out["Items"]]


@contextmanager
def count_aws_calls() -> Iterator[list[str]]:
    """Record every AWS operation made through the cached clients while the block runs."""
    calls: list[str] = []

    def hook(model: Any, **_: Any) -> None:
        calls.append(model.name)

    handlers = []
    for client in (clients.dynamodb(), clients.s3(), clients.sns()):
        client.meta.events.register("before-call.*.*", hook)
        handlers.append(client)
    try:
        yield calls
    finally:
        for client in handlers:
            client.meta.events.unregister("before-call.*.*", hook)
