"""Make moto's TransactWriteItems cheap without changing what it does (used by the serialised
local moto server, ``local.moto_server``, and the benchmarks).

moto 5.2 deep-copies the whole table, with every stream record ever written, once per ACTION
of a TransactWriteItems (to roll back on failure). The cost grows with the table and the
transaction: on the local stack a DM send took ~2.5 s at p50 under 10 users after a minute.
That is a property of the stand-in, not of the code under test, so the local server and the
benchmarks remove it: a rollback restores only the items the transaction names.

The server also stops moto remembering every item, stream record, queue message and object it
ever created (:func:`stop_tracking_bulk_models`): only its dashboard read that list, and building
the dashboard under the lock had grown to seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _Journal:
    """The items a transaction may touch, as they were before it, and where each table's
    stream ended: enough to undo the transaction exactly (behind the lock nothing else writes)."""

    def __init__(self, backend: Any, transact_items: list[dict[str, Any]]) -> None:
        import copy

        from moto.dynamodb.models.dynamo_type import DynamoType

        self.saved: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, item before)
        self.streams: dict[int, tuple[Any, int]] = {}  # id(table) -> (shard, records before)
        for action in transact_items:
            ((_, op),) = action.items()
            table = backend.tables[op["TableName"]]
            key = op["Item"] if "Item" in op else op["Key"]
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            before = table.get_item(hash_value, range_value)
            self.saved.append((table, hash_value, range_value, copy.deepcopy(before)))
            if table.stream_shard is not None and id(table) not in self.streams:
                self.streams[id(table)] = (table.stream_shard, len(table.stream_shard.items))

    def undo(self) -> None:
        """Put every touched item back as it was and cut the stream records it appended."""
        for table, hash_value, range_value, before in reversed(self.saved):
            home = table.items[hash_value] if range_value is not None else table.items
            slot = range_value if range_value is not None else hash_value
            if before is None:
                home.pop(slot, None)
            else:
                home[slot] = before
        for shard, records in self.streams.values():
            del shard.items[records:]


@contextmanager
def fast_moto_transactions() -> Iterator[None]:
    """Make moto's TransactWriteItems cheap without changing what it does.

    moto 5.2 deep-copies the whole table (with every stream record ever written) once per
    ACTION of a transaction, to roll back on failure: the cost grows with the table, so on a
    long-running local stack every DM send and order got slower (40 ms per 3-action
    transaction at 1,500 items). Here the rollback copies only what the transaction names: the
    ≤ 100 items it touches, as they were, and each table's stream length (:class:`_Journal`);
    moto's own copy is handed the live table and its rollback is a no-op. A request moto
    would refuse before touching anything (no such table, a malformed key) runs moto's own
    code unchanged. Not thread-safe (it swaps a module global during the call): use it
    in-process single-threaded, or behind the serialised server's lock. Call counts do not
    depend on it.
    """
    import copy as real_copy

    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    class _NoTableCopies:
        @staticmethod
        def deepcopy(obj: Any, memo: Any = None) -> Any:
            return obj if isinstance(obj, Table) else real_copy.deepcopy(obj, memo)

    backend_cls = models.DynamoDBBackend
    original = backend_cls.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        try:
            journal = _Journal(self, transact_items)
        except Exception:  # moto's own code raises the error AWS would
            original(self, transact_items)
            return
        models.copy = _NoTableCopies  # type: ignore[assignment]
        try:
            original(self, transact_items)
        except Exception:
            journal.undo()
            raise
        finally:
            models.copy = real_copy

    backend_cls.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        backend_cls.transact_write_items = original  # type: ignore[method-assign]


_PERMANENT: list[Any] = []


def patch_permanently() -> None:
    """Apply :func:`fast_moto_transactions` and :func:`stop_tracking_bulk_models` for the life
    of the process (the local and the bench's server).
    The context manager is kept referenced: a collected generator would run its ``finally``.
    Idempotent: a second call does not wrap moto's method twice."""
    if _PERMANENT:
        return
    patch = fast_moto_transactions()
    patch.__enter__()
    _PERMANENT.append(patch)
    stop_tracking_bulk_models()


# The models a busy table, queue or bucket creates by the thousand. moto keeps every instance
# of every model ever created, for its dashboard (``/moto-api/data.json``), and never lets go;
# with moto's own rollback copy (or this module's earlier one copy per table) every
# transaction added a copy of every item of the table, and each copy was kept. After 1,500
# items and 150 transactions the server held 330 MB and data.json took 14.6 s to build under
# the lock, which stalled every other request (CI: the e2e tests that read pushes and SMS
# from data.json timed out after 5 s).
_BULK_MODELS = (
    ("moto.dynamodb.models.dynamo_type", "Item"),
    ("moto.dynamodb.models.table", "StreamRecord"),
    ("moto.dynamodbstreams.models", "ShardIterator"),
    ("moto.sqs.models", "Message"),
    ("moto.s3.models", "FakeKey"),
)


def stop_tracking_bulk_models() -> None:
    """Stop moto remembering every instance of :data:`_BULK_MODELS` (the dashboard still lists
    tables, queues, buckets, topics, endpoints and SMS: what the local tools read). Behaviour
    of the AWS API is unchanged: the tracking list is read by nothing but the dashboard."""
    import importlib

    from moto.core.common_models import BaseModel

    bulk = tuple(getattr(importlib.import_module(module), name) for module, name in _BULK_MODELS)
    for cls in bulk:
        cls.instances_tracked = []

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:  # noqa: N807 - replaces moto's
        instance = super(BaseModel, cls).__new__(cls)  # type: ignore[misc]
        if not issubclass(cls, bulk):
            cls.instances_tracked.append(instance)  # type: ignore[attr-defined]
        return instance

    BaseModel.__new__ = __new__  # type: ignore[method-assign]
