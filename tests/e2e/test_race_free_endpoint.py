"""The local AWS endpoint is race-free: concurrent conditional writes never oversell.

Plain moto oversells under concurrency (see /work/shared/NOTES.md); ``local.moto_server``
serialises requests, and these tests prove it over real HTTP with many threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest

from tests.support.moto import moto_server

pytestmark = pytest.mark.e2e

STOCK = 20
BUYERS = 100
ROUNDS = 6
TABLE = "race"


@pytest.fixture(scope="module")
def clients() -> Iterator[list[Any]]:
    """BUYERS DynamoDB clients (one per thread, own connections) on a fresh serialised moto."""
    import boto3
    from botocore.config import Config

    with moto_server() as url:
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        config = Config(retries={"max_attempts": 1}, max_pool_connections=BUYERS)

        pool = [session.client("dynamodb", endpoint_url=url, config=config) for _ in range(BUYERS)]
        pool[0].create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield pool


def _reset(client: Any, pk: str) -> None:
    client.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "stock": {"N": str(STOCK)}})


def _stock(client: Any, pk: str) -> int:
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"]
    return int(item["stock"]["N"])


def _run_concurrently(attempt: Callable[[Any], bool], clients: list[Any]) -> int:
    """Start one attempt per client at the same instant; return how many succeeded."""
    barrier = Barrier(BUYERS)

    def one(client: Any) -> bool:
        barrier.wait()
        return attempt(client)

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        return sum(pool.map(one, clients))


def _conditional_decrement(pk: str) -> Callable[[Any], bool]:
    def attempt(client: Any) -> bool:
        try:
            client.update_item(
                TableName=TABLE,
                Key={"pk": {"S": pk}},
                UpdateExpression="SET stock = stock - :one",
                ConditionExpression="stock >= :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
            return True
        except client.exceptions.ConditionalCheckFailedException:
            return False

    return attempt


def _transactional_decrement(pk: str) -> Callable[[Any], bool]:
    def attempt(client: Any) -> bool:
        # Each winner also writes its own order item in the same transaction: a cancelled
        # transaction must not wipe other winners' orders (plain moto restores a stale table).
        order = f"order#{pk}#{id(client)}"
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": TABLE,
                            "Key": {"pk": {"S": pk}},
                            "UpdateExpression": "SET stock = stock - :one",
                            "ConditionExpression": "stock >= :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                    {
                        "Put": {
                            "TableName": TABLE,
                            "Item": {"pk": {"S": order}, "sale": {"S": pk}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
            return True
        except client.exceptions.TransactionCanceledException:
            return False

    return attempt


@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_concurrent_conditional_decrements_sell_exactly_the_stock(clients: list[Any], round_no: int) -> None:
    # Given a counter of 20
    client = clients[0]
    pk = f"sale-{round_no}"
    _reset(client, pk)

    # When 100 clients decrement it at once, each only if stock remains
    successes = _run_concurrently(_conditional_decrement(pk), clients)

    # Then exactly 20 succeed and the counter ends at 0
    assert successes == STOCK
    assert _stock(client, pk) == 0


def test_concurrent_transactional_decrements_sell_exactly_the_stock(clients: list[Any]) -> None:
    # Given a counter of 20
    client = clients[0]
    pk = "sale-tx"
    _reset(client, pk)

    # When 100 clients each run a transaction "decrement if stock remains + write my order"
    successes = _run_concurrently(_transactional_decrement(pk), clients)

    # Then exactly 20 transactions commit, the counter ends at 0 and all 20 orders survive
    assert successes == STOCK
    assert _stock(client, pk) == 0
    orders = client.scan(
        TableName=TABLE,
        FilterExpression="sale = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )["Items"]
    assert len(orders) == STOCK
