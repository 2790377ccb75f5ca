"""Idempotent demo data, created through the product's own paths.

Users follow each other through the HTTP API (tokens minted with the local key pair) and
demo-carol's videos arrive as ``video.published`` events on the video-events topic, which the
share domain's subscription consumes (through the event pump locally). Every step may run
again: follows are idempotent (PUT) and video events are keyed by ``video_id``.

``python -m local.seed --api http://127.0.0.1:8000 --endpoint http://127.0.0.1:4566``
"""

from __future__ import annotations

import argparse
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.core.settings import VIDEO_EVENTS_TOPIC_NAME

log = logging.getLogger("local.seed")

USERS = ("demo-alice", "demo-bob", "demo-carol", "demo-dave")
# (follower, followee): alice↔bob and alice↔carol are friends; dave follows alice only.
FOLLOWS = (
    ("demo-alice", "demo-bob"),
    ("demo-bob", "demo-alice"),
    ("demo-alice", "demo-carol"),
    ("demo-carol", "demo-alice"),
    ("demo-dave", "demo-alice"),
)
VIDEOS = (
    ("demo-video-public", "Carol's public demo video", "public"),
    ("demo-video-friends", "Carol's friends-only demo video", "friends"),
    ("demo-video-private", "Carol's private demo video", "private"),
)
VIDEO_AUTHOR = "demo-carol"
# Fixed, so that re-seeding never makes an event look newer than a later real update.
VIDEO_OCCURRED_AT = "2026-01-01T00:00:00.000Z"

TokenFor = Callable[[str], str]


def http(method: str, url: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    """One JSON request; returns (status, parsed body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as err:
        raw, status = err.read(), err.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def _missing_route(status: int, body: Any) -> bool:
    # Chalice answers unknown paths with 404 (or 403 "Missing Authentication Token" like API
    # Gateway) and no `code`; the product's own 404/403 bodies carry `code`.
    return status in (403, 404) and not (isinstance(body, dict) and "code" in body)


def seed_follows(api_url: str, token_for: TokenFor) -> list[str]:
    """Create the demo follows; returns warnings (e.g. the follow route is not there yet)."""
    warnings: list[str] = []
    for follower, followee in FOLLOWS:
        status, body = http("PUT", f"{api_url}/v1/users/{followee}/follow", token_for(follower))
        if status in (200, 204):
            continue
        if _missing_route(status, body):
            warnings.append("PUT /v1/users/{user_id}/follow is not available yet: follows not seeded")
            break
        warnings.append(f"{follower} → {followee}: follow answered {status} {body}")
    return warnings


def seed_videos(sns: Any, topic_arn: str) -> None:
    """Publish demo-carol's videos on the video-events topic (the share domain's input)."""
    for video_id, title, visibility in VIDEOS:
        event = {
            "type": "video.published",
            "video_id": video_id,
            "author_id": VIDEO_AUTHOR,
            "title": title,
            "visibility": visibility,
            "occurred_at": VIDEO_OCCURRED_AT,
        }
        sns.publish(
            TopicArn=topic_arn,
            Message=json.dumps(event),
            MessageAttributes={"type": {"DataType": "String", "StringValue": "video.published"}},
        )


def video_topic_arn(sns: Any) -> str:
    """The ARN of the deployed video-events topic."""
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == VIDEO_EVENTS_TOPIC_NAME:
                return str(topic["TopicArn"])
    raise RuntimeError(f"topic {VIDEO_EVENTS_TOPIC_NAME} is not deployed")


def seed(api_url: str, token_for: TokenFor, sns: Any, topic_arn: str | None = None) -> list[str]:
    """Seed everything; returns warnings for steps that could not run (never raises for those)."""
    warnings = seed_follows(api_url, token_for)
    seed_videos(sns, topic_arn or video_topic_arn(sns))
    for warning in warnings:
        log.warning("seed: %s", warning)
    return warnings


def main() -> None:
    """Seed a running stack (``make run`` does this itself)."""
    from local.stack import EndpointSession
    from local.tokens import ensure_keypair, mint_token

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566")
    parser.add_argument("--keys", default=".local")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    private_path, _ = ensure_keypair(Path(args.keys))
    pem = private_path.read_bytes()
    sns = EndpointSession(args.endpoint).client("sns")
    warnings = seed(args.api, lambda user: mint_token(pem, user), sns)
    print("seeded" + (f" with {len(warnings)} warning(s)" if warnings else ""))


if __name__ == "__main__":
    main()
