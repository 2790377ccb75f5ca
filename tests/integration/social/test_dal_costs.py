"""The documented AWS call counts of the graph, and retry of transaction conflicts, on moto."""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import clients
from chalicelib.core.clock import now_ms
from chalicelib.core.settings import get_settings
from chalicelib.social import logic
from chalicelib.social.access import Reach, can_message_many
from chalicelib.social.dal import DynamoGraph


class CountingClient:
    """Proxies the DynamoDB client, counting calls; can fail the next N transactions."""

    def __init__(self, inner: Any, conflicts: int = 0) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self.conflicts = conflicts

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        def counted(**kwargs: Any) -> Any:
            self.calls[name] += 1
            if name == "transact_write_items" and self.conflicts:
                self.conflicts -= 1
                raise ClientError(
                    {
                        "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                        "CancellationReasons": [{"Code": "TransactionConflict"}],
                    },
                    "TransactWriteItems",
                )
            return method(**kwargs)

        return counted


def counting_graph(conflicts: int = 0) -> tuple[DynamoGraph, CountingClient]:
    client = CountingClient(clients.dynamodb(), conflicts)
    return DynamoGraph(client, get_settings().table_name), client


def test_follow_costs_one_read_and_one_transaction(aws: dict[str, str]) -> None:
    # Given
    store, client = counting_graph()
    # When
    logic.follow(store, "a", "b", now_ms())
    # Then
    assert client.calls == Counter({"batch_get_item": 1, "transact_write_items": 1})


def test_a_transaction_conflict_is_retried_and_counted_once(aws: dict[str, str]) -> None:
    # Given DynamoDB reports a TransactionConflict twice (a hot profile counter)
    store, client = counting_graph(conflicts=2)
    # When
    assert logic.follow(store, "a", "b", now_ms()) is True
    # Then the follow landed once
    assert client.calls["transact_write_items"] == 3
    assert logic.me(store, "b").followers_count == 1


def test_reachability_of_many_recipients_is_one_batched_read_per_twenty(aws: dict[str, str]) -> None:
    # Given 45 recipients
    store, client = counting_graph()
    recipients = [f"r{i}" for i in range(45)]
    # When
    reach = can_message_many(store, "sender", recipients)
    # Then 45 * 5 keys = 225 keys → three BatchGetItem calls, not 45 round trips
    assert set(reach.values()) == {Reach.REQUEST}
    assert client.calls == Counter({"batch_get_item": 3})


def test_relationship_is_one_batched_read(aws: dict[str, str]) -> None:
    store, client = counting_graph()
    logic.relationship(store, "a", "b")
    assert client.calls == Counter({"batch_get_item": 1})


def test_a_celebritys_followers_spread_over_counter_shards_and_me_sums_them(aws: dict[str, str]) -> None:
    # Given 48 fans following one celebrity (and the celebrity following two of them back)
    from chalicelib.core import keys

    store, client = counting_graph()
    for i in range(48):
        logic.follow(store, f"fan{i}", "celeb", now_ms())
    for i in range(2):
        logic.follow(store, "celeb", f"fan{i}", now_ms())
    # Then the counts landed on many items, not one hot item
    out = clients.dynamodb().query(
        TableName=get_settings().table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
        ExpressionAttributeValues={":pk": {"S": keys.user_pk("celeb")}, ":c": {"S": "COUNTERS#"}},
    )
    assert out["Count"] >= 10
    assert all(int(i.get("followers_count", {"N": "0"})["N"]) < 48 for i in out["Items"])
    # When the celebrity reads their profile
    client.calls.clear()
    me = logic.me(store, "celeb")
    # Then the counters are exact, in one read
    assert (me.followers_count, me.following_count, me.friends_count) == (48, 2, 2)
    assert client.calls == Counter({"batch_get_item": 1})
