"""Make moto's TransactWriteItems cheap without changing what it does (used by the serialised
local moto server, ``local.moto_server``, and the benchmarks).

moto 5.2 deep-copies the whole table, with every stream record ever written, once per ACTION
of a TransactWriteItems (to roll back on failure). The cost grows with the table and the
transaction: on the local stack a DM send took ~2.5 s at p50 under 10 users after a minute.
That is a property of the stand-in, not of the code under test, so the benchmarks remove it.

The server also stops moto remembering every item, stream record, queue message and object it
ever created (:func:`stop_tracking_bulk_models`): only its dashboard read that list, and building
the dashboard under the lock had grown to seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def fast_moto_transactions() -> Iterator[None]:
    """Make moto's TransactWriteItems cheap without changing what it does.

    moto 5.2 deep-copies the whole table (with every stream record ever written) once per
    ACTION of a transaction, to roll back on failure; the copies are all taken before anything
    is applied, so they are identical. Here: one copy per table and call, without the stream
    shard (shared; on a rollback the records the cancelled transaction appended are cut off).
    A 60-action share no longer copies the table and its stream 60 times. Not thread-safe
    (it swaps a module global during the call): use it in-process single-threaded, or behind
    the serialised server's lock. Call counts do not depend on it.
    """
    import copy as real_copy

    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    class _OneCopyPerTable:
        def __init__(self) -> None:
            self.copies: dict[int, Any] = {}
            self.streams: list[tuple[Any, Any, int]] = []  # (copy, shard, records before)

        def deepcopy(self, obj: Any, memo: Any = None) -> Any:
            if not isinstance(obj, Table):
                return real_copy.deepcopy(obj, memo)
            if id(obj) not in self.copies:
                shard = getattr(obj, "stream_shard", None)
                obj.stream_shard = None
                try:
                    clone = real_copy.deepcopy(obj)
                finally:
                    obj.stream_shard = shard
                clone.stream_shard = shard
                if shard is not None:
                    self.streams.append((clone, shard, len(shard.items)))
                self.copies[id(obj)] = clone
            return self.copies[id(obj)]

        def rolled_back(self, backend: Any) -> None:
            for clone, shard, before in self.streams:
                if clone in backend.tables.values():
                    del shard.items[before:]
                    shard.table = clone

    backend_cls = models.DynamoDBBackend
    original = backend_cls.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        shim = _OneCopyPerTable()
        models.copy = shim  # type: ignore[assignment]
        try:
            original(self, transact_items)
        except Exception:
            shim.rolled_back(self)
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
# the one-copy-per-transaction above still copies every item of the table once per
# transaction, and each copy is kept. After 1,500 items and 150 transactions the server held
# 330 MB and data.json took 14.6 s to build under the lock, which stalled every other request
# (CI: the e2e tests that read pushes and SMS from data.json timed out after 5 s).
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
