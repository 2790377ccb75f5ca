"""Five concurrent retries of one share (same Idempotency-Key) against the serialised moto
server: one share, one message per recipient, ``share_count`` counted once, same response."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest

from chalicelib.core.clock import now_ms
from tests.support.env import functions_environment
from tests.support.moto import moto_server

pytestmark = pytest.mark.e2e

RETRIES = 5


@pytest.fixture(scope="module")
def stack() -> Iterator[str]:
    """A fresh serialised moto server with the infra deployed; settings point at it."""
    with moto_server() as url, functions_environment(url):
        yield url


def _shares() -> Any:
    """The share store on a client with a generous read timeout: the serialised server queues
    five 100-action transactions behind one lock, which on a loaded machine can exceed the
    production client's 5 s."""
    import boto3
    from botocore.config import Config

    from chalicelib.core.settings import get_settings
    from chalicelib.share.dal import DynamoShares

    settings = get_settings()
    client = boto3.session.Session().client(
        "dynamodb", region_name=settings.region, config=Config(read_timeout=120, max_pool_connections=RETRIES)
    )
    return DynamoShares(client, settings.table_name)


def _share_concurrently(video_id: str, recipients: list[str], key: str, note: str | None = None) -> list[Any]:
    from chalicelib.core.clock import Clock
    from chalicelib.share.logic import share_video
    from chalicelib.share.models import ShareRequest

    request = ShareRequest(recipient_ids=recipients, note=note)
    store = _shares()
    barrier = Barrier(RETRIES)

    def attempt(_: int) -> Any:
        barrier.wait()
        try:
            return share_video(
                store, sharer="alice", video_id=video_id, request=request, idem_key=key, clock=Clock()
            )
        except Exception as err:
            return err

    with ThreadPoolExecutor(RETRIES) as pool:
        return list(pool.map(attempt, range(RETRIES)))


@pytest.mark.parametrize("recipient_count", [3, 20])
def test_concurrent_retries_share_once(stack: str, recipient_count: int) -> None:
    from chalicelib.share import dal
    from chalicelib.share.videos import apply_video_event
    from tests.integration.share.world import befriend, messages_in, video_event

    # Given a public video and alice's friends (20 → the two-transaction path)
    video_id = f"vc{recipient_count}"
    apply_video_event(dal.videos(), video_event(video_id), now_ms())
    friends = [f"c{recipient_count}-{i:02d}" for i in range(recipient_count)]
    for f in friends:
        befriend("alice", f)
    # When 5 identical retries race
    outcomes = _share_concurrently(video_id, friends, key=f"race-{recipient_count}")
    # Then all get the same response
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert not errors, errors
    assert all(o == outcomes[0] for o in outcomes)
    # And exactly one message per recipient exists, and share_count rose once
    for result in outcomes[0]["results"]:
        assert result["status"] == "sent"
        assert [m["message_id"] for m in messages_in(result["conversation_id"])] == [result["message_id"]]
    video = dal.videos().get(video_id)
    assert video is not None and video.share_count == recipient_count


def test_concurrent_different_bodies_with_one_key_share_once(stack: str) -> None:
    from chalicelib.core.clock import Clock
    from chalicelib.core.errors import IdempotencyKeyReusedError
    from chalicelib.share import dal
    from chalicelib.share.logic import share_video
    from chalicelib.share.models import ShareRequest
    from chalicelib.share.videos import apply_video_event
    from tests.integration.share.world import befriend, video_event

    apply_video_event(dal.videos(), video_event("vd"), now_ms())
    # A sharer of its own: the test before fills alice's DM rate window (shares count in it)
    befriend("amy", "dd")
    store = _shares()
    barrier = Barrier(RETRIES)

    def attempt(i: int) -> Any:
        barrier.wait()
        try:
            return share_video(
                store,
                sharer="amy",
                video_id="vd",
                request=ShareRequest(recipient_ids=["dd"], note=f"note {i}"),
                idem_key="one-key",
                clock=Clock(),
            )
        except IdempotencyKeyReusedError as err:
            return err

    with ThreadPoolExecutor(RETRIES) as pool:
        outcomes = list(pool.map(attempt, range(RETRIES)))
    assert sum(isinstance(o, dict) for o in outcomes) == 1
    assert sum(isinstance(o, IdempotencyKeyReusedError) for o in outcomes) == RETRIES - 1
    video = dal.videos().get("vd")
    assert video is not None and video.share_count == 1


def test_five_concurrent_shares_from_a_stranger_leave_one_request_message(stack: str) -> None:
    # Given mallory, a stranger to victor, shares five times at once with five different keys
    from chalicelib.core.clock import Clock
    from chalicelib.share import dal
    from chalicelib.share.logic import share_video
    from chalicelib.share.models import ShareRequest
    from chalicelib.share.videos import apply_video_event
    from tests.integration.share.world import messages_in, video_event

    apply_video_event(dal.videos(), video_event("vs"), now_ms())
    store = _shares()
    barrier = Barrier(RETRIES)

    def attempt(i: int) -> Any:
        barrier.wait()
        try:
            return share_video(
                store,
                sharer="mallory",
                video_id="vs",
                request=ShareRequest(recipient_ids=["victor"], note="buy now"),
                idem_key=f"spam-{i}",
                clock=Clock(),
            )
        except Exception as err:
            return err

    with ThreadPoolExecutor(RETRIES) as pool:
        outcomes = list(pool.map(attempt, range(RETRIES)))
    # Then exactly one is a request and the rest are not allowed (or told to retry)
    statuses = sorted(
        o["results"][0]["status"] if isinstance(o, dict) else type(o).__name__ for o in outcomes
    )
    assert statuses.count("request") == 1, outcomes
    requested = next(o for o in outcomes if isinstance(o, dict) and o["results"][0]["status"] == "request")
    # And victor's request conversation holds exactly one message
    assert len(messages_in(requested["results"][0]["conversation_id"])) == 1
