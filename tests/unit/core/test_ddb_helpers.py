"""The shared DynamoDB helpers every dal uses: paging, batched puts, conditional writes."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.core.ddb import batch_put, conditional, query_all, serialize
from chalicelib.core.errors import UnavailableError


class PagedQueries:
    """A client whose Query answers in pages of two items."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = [serialize(i) for i in items]
        self.calls: list[dict[str, Any]] = []

    def query(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        start = int(params.get("ExclusiveStartKey", {}).get("n", {}).get("N", 0))
        out: dict[str, Any] = {"Items": self.items[start : start + 2]}
        if start + 2 < len(self.items):
            out["LastEvaluatedKey"] = {"n": {"N": str(start + 2)}}
        return out


def test_query_all_follows_every_page_and_leaves_the_caller_params_alone() -> None:
    # Given five matching items served two per page
    client = PagedQueries([{"pk": "P", "sk": f"S{i}", "n": i} for i in range(5)])
    params = {"TableName": "t", "KeyConditionExpression": "pk = :p"}
    # When all of them are read
    items = list(query_all(client, **params))
    # Then every item comes back once, in order, after three pages
    assert [i["n"] for i in items] == [0, 1, 2, 3, 4]
    assert len(client.calls) == 3 and "ExclusiveStartKey" not in params


class FlakyBatchWriter:
    """A client that leaves the first item of each batch unprocessed ``fail_times`` times."""

    def __init__(self, fail_times: int) -> None:
        self.fail_times = fail_times
        self.written: list[str] = []
        self.calls = 0

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls += 1
        ((table, requests),) = RequestItems.items()
        assert len(requests) <= 25
        if self.fail_times:
            self.fail_times -= 1
            self.written += [r["PutRequest"]["Item"]["sk"]["S"] for r in requests[1:]]
            return {"UnprocessedItems": {table: requests[:1]}}
        self.written += [r["PutRequest"]["Item"]["sk"]["S"] for r in requests]
        return {}


def test_batch_put_writes_25_per_call_and_retries_unprocessed_items() -> None:
    # Given 30 items and a table that leaves one item unprocessed once
    client = FlakyBatchWriter(fail_times=1)
    # When they are put
    batch_put(client, "t", [{"pk": "P", "sk": f"S{i:02d}"} for i in range(30)])
    # Then every item is written exactly once: 25 + retry of 1 + 5
    assert sorted(client.written) == [f"S{i:02d}" for i in range(30)]
    assert client.calls == 3


def test_batch_put_gives_up_on_a_table_that_keeps_throttling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chalicelib.core.ddb.time.sleep", lambda _s: None)
    with pytest.raises(UnavailableError):
        batch_put(FlakyBatchWriter(fail_times=1000), "t", [{"pk": "P", "sk": "S"}])


def test_conditional_reports_a_refused_condition_as_false() -> None:
    def refused(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}, "PutItem")

    assert conditional(refused, TableName="t") is False
    assert conditional(lambda **_: {}, TableName="t") is True
