"""Follow counts stay exact under concurrency, against the race-free (serialised) moto server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from chalicelib.core import keys
from chalicelib.core.clock import now_ms
from chalicelib.core.ddb import values
from chalicelib.social import logic
from chalicelib.social.dal import graph
from tests.support.env import functions_environment
from tests.support.moto import moto_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A serialised moto server with the infra deployed; the functions' settings point at it."""
    with moto_server() as url, functions_environment(url):
        yield url


def in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call at once (one thread each) and return their results."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(c) for c in calls]
        return [f.result() for f in futures]


def follower_items(user: str) -> int:
    """Count the FOLLOWER# edge items in the user's partition (ground truth for the counter)."""
    from chalicelib.core import clients
    from chalicelib.core.settings import get_settings

    out = clients.dynamodb().query(
        TableName=get_settings().table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues=values(pk=keys.user_pk(user), p="FOLLOWER#"),
        ConsistentRead=True,
    )
    return len(out["Items"])


def test_twenty_concurrent_follows_of_one_user_count_exactly(endpoint: str) -> None:
    # Given 20 different users and a star nobody follows yet
    store = graph()
    fans = [f"fan-{i:02d}" for i in range(20)]
    # When all 20 follow the star at the same time
    created = in_parallel([partial(logic.follow, store, f, "star", now_ms()) for f in fans])
    # Then every follow counted once: the counter and the edge items agree on 20
    assert created == [True] * 20
    assert logic.me(store, "star").followers_count == 20
    assert follower_items("star") == 20
    assert all(logic.me(store, f).following_count == 1 for f in fans)


def test_concurrent_repeats_of_one_follow_count_once(endpoint: str) -> None:
    # Given
    store = graph()
    # When the same user sends the same follow 10 times at once
    created = in_parallel([lambda: logic.follow(store, "eager", "idol", now_ms()) for _ in range(10)])
    # Then exactly one created the edge and the counts are 1
    assert created.count(True) == 1
    assert logic.me(store, "idol").followers_count == 1
    assert logic.me(store, "eager").following_count == 1
    assert follower_items("idol") == 1


def test_concurrent_mutual_follows_end_as_friends(endpoint: str) -> None:
    # Given
    store = graph()
    # When two users follow each other at the same moment (several pairs at once)
    pairs = [(f"left-{i}", f"right-{i}") for i in range(3)]
    calls: list[Callable[[], Any]] = []
    for a, b in pairs:
        calls += [partial(logic.follow, store, a, b, now_ms()), partial(logic.follow, store, b, a, now_ms())]
    in_parallel(calls)
    # Then every pair is friends on both sides, counted once each
    for a, b in pairs:
        assert logic.relationship(store, a, b).friends
        assert logic.me(store, a).friends_count == 1
        assert logic.me(store, b).friends_count == 1
        friends_a, _ = logic.list_page(store, "test-cursor-secret", a, "friends", 10, None)
        assert [f.user_id for f in friends_a] == [b]


def test_concurrent_follow_and_unfollow_storm_keeps_counter_equal_to_edges(endpoint: str) -> None:
    # Given 6 users who each follow and unfollow the same target many times concurrently
    store = graph()
    users = [f"flip-{i}" for i in range(6)]
    calls: list[Callable[[], Any]] = []
    for round_ in range(3):
        for u in users:
            if round_ % 2 == 0:
                calls.append(partial(logic.follow, store, u, "target", now_ms()))
            else:
                calls.append(partial(logic.unfollow, store, u, "target"))
    calls += [partial(logic.follow, store, u, "target", now_ms()) for u in users[:3]]
    in_parallel(calls)
    # Then whatever the interleaving, the counter equals the edges actually stored
    assert logic.me(store, "target").followers_count == follower_items("target")
