"""DynamoDB plumbing shared by every domain's ``dal.py``.

A small (de)serialiser for the low-level client's attribute-value format (boto3's own lives
behind ``import boto3``, which we keep off the import path), and translation of botocore
errors into neutral exceptions that each dal turns into its domain errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from chalicelib.core.errors import UnavailableError

Item = dict[str, Any]
T = TypeVar("T")

_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
}


def to_av(value: Any) -> dict[str, Any]:
    """Python value → DynamoDB AttributeValue."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, Mapping):
        return {"M": {k: to_av(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_av(v) for v in value]}
    if isinstance(value, set | frozenset):
        if all(isinstance(v, str) for v in value):
            return {"SS": sorted(value)}
        return {"NS": sorted(str(v) for v in value)}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_av(av: Mapping[str, Any]) -> Any:
    """DynamoDB AttributeValue → Python value (numbers become ``int`` when integral)."""
    ((kind, value),) = av.items()
    if kind == "S":
        return value
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_av(v) for k, v in value.items()}
    if kind == "L":
        return [from_av(v) for v in value]
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {int(Decimal(v)) for v in value}
    if kind == "B":
        return bytes(value)
    raise TypeError(f"unknown attribute type {kind}")


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """Python dict → low-level item (``None`` values are dropped)."""
    return {k: to_av(v) for k, v in item.items() if v is not None}


def deserialize(item: Mapping[str, Any] | None) -> Item | None:
    """Low-level item → Python dict (``None`` stays ``None``)."""
    if item is None:
        return None
    return {k: from_av(v) for k, v in item.items()}


def values(**named: Any) -> dict[str, Any]:
    """Build ``ExpressionAttributeValues`` from keyword arguments (``:name`` placeholders)."""
    return {f":{k}": to_av(v) for k, v in named.items()}


@dataclass(frozen=True)
class CancelReason:
    """Why one action of a cancelled transaction failed (``code`` is DynamoDB's, or "None")."""

    code: str
    item: Item | None


class TransactionCancelled(Exception):  # noqa: N818 - mirrors DynamoDB's name; dal maps it
    """A TransactWriteItems was cancelled; ``reasons`` align with the submitted actions."""

    def __init__(self, reasons: list[CancelReason]) -> None:
        super().__init__(", ".join(r.code for r in reasons))
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        """True when action ``index`` failed its condition."""
        return index < len(self.reasons) and self.reasons[index].code == "ConditionalCheckFailed"

    def item(self, index: int) -> Item | None:
        """The existing item behind a failed condition (needs ``ReturnValuesOnConditionCheckFailure``)."""
        return self.reasons[index].item if index < len(self.reasons) else None


class ConditionFailed(Exception):  # noqa: N818 - mirrors DynamoDB's name; dal maps it
    """A single conditional write failed; ``item`` is the existing item when requested."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn botocore's ``ClientError`` into :class:`TransactionCancelled`, :class:`ConditionFailed`
    or :class:`UnavailableError`, by error code (never by message text)."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "TransactionCanceledException":
            reasons = [
                CancelReason(r.get("Code", "None"), deserialize(r.get("Item")))
                for r in err.response.get("CancellationReasons", [])
            ]
            if any(r.code in _THROTTLING or r.code == "TransactionConflict" for r in reasons):
                raise UnavailableError("The request conflicted with another; retry.") from err
            raise TransactionCancelled(reasons) from err
        if code == "ConditionalCheckFailedException":
            raise ConditionFailed(deserialize(err.response.get("Item"))) from err
        if code in _THROTTLING:
            raise UnavailableError("The service is busy; retry.") from err
        raise


def call(fn: Callable[..., T], **kwargs: Any) -> T:
    """Call a DynamoDB client method with error translation."""
    with translate_errors():
        return fn(**kwargs)


def conditional(fn: Callable[..., Any], **kwargs: Any) -> bool:
    """A conditional write through :func:`call`: True when it was applied, False when its
    condition failed (for writes whose refusal is an expected outcome, not an error)."""
    try:
        call(fn, **kwargs)
    except ConditionFailed:
        return False
    return True


def item_key(key: Mapping[str, Any]) -> tuple[str, str]:
    """``(pk, sk)`` of a key or item: how :func:`batch_get` indexes what it found."""
    return str(key["pk"]), str(key["sk"])


def get_item(
    client: Any,
    table: str,
    key: Mapping[str, str],
    *,
    consistent: bool = True,
    projection: str | None = None,
) -> Item | None:
    """One GetItem (strongly consistent unless told otherwise); ``None`` when absent."""
    params: dict[str, Any] = {"TableName": table, "Key": serialize(key), "ConsistentRead": consistent}
    if projection:
        params["ProjectionExpression"] = projection
    return deserialize(call(client.get_item, **params).get("Item"))


def query_page(
    client: Any,
    table: str,
    *,
    key_attribute: str,
    key_value: str,
    limit: int,
    index: str | None = None,
    start: Mapping[str, Any] | None = None,
    newest_first: bool = True,
) -> tuple[list[Item], Item | None]:
    """One Query page of a partition (of the table or an index), by sort key; returns the items
    and the ``LastEvaluatedKey`` to continue from (``None`` on the last page)."""
    params: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#k = :k",
        "ExpressionAttributeNames": {"#k": key_attribute},
        "ExpressionAttributeValues": values(k=key_value),
        "ScanIndexForward": not newest_first,
        "Limit": limit,
    }
    if index:
        params["IndexName"] = index
    if start:
        params["ExclusiveStartKey"] = serialize(start)
    out = call(client.query, **params)
    items = [deserialize(raw) or {} for raw in out.get("Items", [])]
    return items, deserialize(out.get("LastEvaluatedKey"))


def query_all(client: Any, **params: Any) -> Iterator[Item]:
    """Every item a Query matches, following ``LastEvaluatedKey`` page by page (deserialized)."""
    params = dict(params)
    while True:
        out = call(client.query, **params)
        for raw in out.get("Items", []):
            yield deserialize(raw) or {}
        last = out.get("LastEvaluatedKey")
        if not last:
            return
        params["ExclusiveStartKey"] = last


BATCH_GET_MAX_KEYS = 100
BATCH_WRITE_MAX_ITEMS = 25
_UNPROCESSED_RETRIES = 6


def batch_get(
    client: Any,
    table: str,
    item_keys: Iterable[Mapping[str, str]],
    *,
    consistent: bool = True,
    projection: str | None = None,
) -> dict[tuple[str, str], Item]:
    """BatchGetItem of any number of keys: deduplicated, 100 keys per call, unprocessed keys
    retried with a short backoff (bounded: a table that keeps throttling is ``UnavailableError``).
    Returns the found items by ``(pk, sk)``."""
    unique = list({item_key(k): k for k in item_keys}.values())
    found: dict[tuple[str, str], Item] = {}
    for start in range(0, len(unique), BATCH_GET_MAX_KEYS):
        spec: dict[str, Any] = {
            "Keys": [serialize(k) for k in unique[start : start + BATCH_GET_MAX_KEYS]],
            "ConsistentRead": consistent,
        }
        if projection:
            spec["ProjectionExpression"] = projection
        request: dict[str, Any] = {table: spec}
        for attempt in range(_UNPROCESSED_RETRIES):
            out = call(client.batch_get_item, RequestItems=request)
            for raw in out.get("Responses", {}).get(table, []):
                item = deserialize(raw) or {}
                found[item_key(item)] = item
            request = out.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.02 * 2**attempt)
        else:
            raise UnavailableError("The table is busy; retry.")
    return found


def batch_put(client: Any, table: str, items: Iterable[Mapping[str, Any]]) -> None:
    """BatchWriteItem puts of any number of items: 25 per call, unprocessed items retried with
    the same bounded backoff as :func:`batch_get` (no conditions: for idempotent upserts only)."""
    _batch_write(client, table, [{"PutRequest": {"Item": serialize(item)}} for item in items])


def batch_delete(client: Any, table: str, item_keys: Iterable[Mapping[str, Any]]) -> None:
    """BatchWriteItem deletes of any number of keys (deduplicated), as :func:`batch_put`."""
    unique = {item_key(k): k for k in item_keys}
    _batch_write(
        client,
        table,
        [{"DeleteRequest": {"Key": serialize({"pk": pk, "sk": sk})}} for pk, sk in unique],
    )


def _batch_write(client: Any, table: str, pending: list[dict[str, Any]]) -> None:
    for start in range(0, len(pending), BATCH_WRITE_MAX_ITEMS):
        request: dict[str, Any] = {table: pending[start : start + BATCH_WRITE_MAX_ITEMS]}
        for attempt in range(_UNPROCESSED_RETRIES):
            out = call(client.batch_write_item, RequestItems=request)
            request = out.get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(0.02 * 2**attempt)
        else:
            raise UnavailableError("The table is busy; retry.")
