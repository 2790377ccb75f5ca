"""The one transaction builder: Put / Update / Delete / ConditionCheck actions for
TransactWriteItems (and the same shapes for single writes), with attribute names and values
generated from the expressions.

Placeholders follow one convention, so no dal writes ``ExpressionAttributeNames`` or
``ExpressionAttributeValues`` by hand:

- ``#name`` stands for the attribute ``name`` (needed for reserved words such as ``status``,
  ``type``, ``text``, ``ttl``); pass ``names={"#x": "real name"}`` only when the attribute name is
  not a plain identifier (e.g. ``rx:🔥``);
- ``:name`` takes the keyword argument ``name`` (serialised with :func:`chalicelib.core.ddb.to_av`).

``update(table, key, "SET #status = :s", condition="#status = :old", s="paid", old="pending")``
gives the ``Update`` action with ``{"#status": "status"}`` and ``{":s": …, ":old": …}``. A value
the expressions do not use, or a placeholder without a value, is a ``ValueError`` (a typo fails
loudly in the unit tests instead of at DynamoDB).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chalicelib.core.ddb import call, conditional, serialize, to_av
from chalicelib.core.errors import UnavailableError

Action = dict[str, Any]

_NAME = re.compile(r"#([A-Za-z_][A-Za-z0-9_]*)")
_VALUE = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


def _placeholders(
    expressions: Sequence[str | None], names: Mapping[str, str] | None, vals: Mapping[str, Any]
) -> dict[str, Any]:
    """``ExpressionAttributeNames``/``Values`` for the placeholders the expressions use."""
    text = " ".join(e for e in expressions if e)
    out: dict[str, Any] = {}
    used_names = {f"#{n}": n for n in _NAME.findall(text)}
    used_names.update({k: v for k, v in (names or {}).items() if k in used_names})
    if used_names:
        out["ExpressionAttributeNames"] = used_names
    used_values = set(_VALUE.findall(text))
    missing = used_values - set(vals)
    if missing:
        raise ValueError(f"no value for placeholders {sorted(missing)}")
    unused = set(vals) - used_values
    if unused:
        raise ValueError(f"values not used by the expression: {sorted(unused)}")
    if used_values:
        out["ExpressionAttributeValues"] = {f":{k}": to_av(vals[k]) for k in sorted(used_values)}
    return out


def _body(
    table: str,
    *,
    condition: str | None,
    names: Mapping[str, str] | None,
    return_old_on_failure: bool,
    vals: Mapping[str, Any],
    expressions: Sequence[str | None] = (),
) -> Action:
    body: Action = {"TableName": table}
    if condition:
        body["ConditionExpression"] = condition
    body.update(_placeholders([*expressions, condition], names, vals))
    if return_old_on_failure:
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return body


def put(
    table: str,
    item: Mapping[str, Any],
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    return_old_on_failure: bool = False,
    **vals: Any,
) -> Action:
    """A ``Put`` of ``item`` (plain Python values), optionally conditional."""
    body = _body(
        table, condition=condition, names=names, return_old_on_failure=return_old_on_failure, vals=vals
    )
    body["Item"] = serialize(item)
    return {"Put": body}


def update(
    table: str,
    key: Mapping[str, Any],
    expression: str,
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    return_old_on_failure: bool = False,
    **vals: Any,
) -> Action:
    """An ``Update`` of the item at ``key`` with ``expression`` (SET/ADD/REMOVE/DELETE)."""
    body = _body(
        table,
        condition=condition,
        names=names,
        return_old_on_failure=return_old_on_failure,
        vals=vals,
        expressions=[expression],
    )
    body["Key"] = serialize(key)
    body["UpdateExpression"] = expression
    return {"Update": body}


def delete(
    table: str,
    key: Mapping[str, Any],
    *,
    condition: str | None = None,
    names: Mapping[str, str] | None = None,
    return_old_on_failure: bool = False,
    **vals: Any,
) -> Action:
    """A ``Delete`` of the item at ``key``, optionally conditional."""
    body = _body(
        table, condition=condition, names=names, return_old_on_failure=return_old_on_failure, vals=vals
    )
    body["Key"] = serialize(key)
    return {"Delete": body}


def check(
    table: str,
    key: Mapping[str, Any],
    condition: str,
    *,
    names: Mapping[str, str] | None = None,
    return_old_on_failure: bool = False,
    **vals: Any,
) -> Action:
    """A ``ConditionCheck`` on the item at ``key`` (transactions only)."""
    body = _body(
        table, condition=condition, names=names, return_old_on_failure=return_old_on_failure, vals=vals
    )
    body["Key"] = serialize(key)
    return {"ConditionCheck": body}


def transact(client: Any, actions: Sequence[Action]) -> None:
    """ONE TransactWriteItems (≤ 100 actions), errors translated (``TransactionCancelled``…)."""
    call(client.transact_write_items, TransactItems=list(actions))


def transact_retrying(
    client: Any,
    actions: Sequence[Action],
    *,
    attempts: int,
    backoff_s: float,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[float, float], float] = random.uniform,
) -> None:
    """:func:`transact`, retried up to ``attempts`` times with full jitter (``backoff_s`` doubled
    per attempt) while DynamoDB reports a conflict or throttling (``UnavailableError``). Safe only
    for transactions whose conditions make a repeat a no-op (hot items: counters, aggregates)."""
    for attempt in range(attempts):
        try:
            transact(client, actions)
            return
        except UnavailableError:
            if attempt == attempts - 1:
                raise
            sleep(jitter(0.0, backoff_s * 2**attempt))


def single(action: Action) -> tuple[str, dict[str, Any]]:
    """The client method and arguments that run one action on its own (``put_item``,
    ``update_item``, ``delete_item``): the same shapes outside a transaction."""
    (kind, body), *_ = action.items()
    method = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}[kind]
    return method, dict(body)


def write(client: Any, action: Action, **extra: Any) -> Any:
    """Run one Put/Update/Delete action alone (e.g. ``ReturnValues="ALL_NEW"`` in ``extra``),
    errors translated (``ConditionFailed``…)."""
    method, kwargs = single(action)
    return call(getattr(client, method), **kwargs, **extra)


def write_if(client: Any, action: Action) -> bool:
    """Run one conditional Put/Update/Delete alone: True when applied, False when its condition
    failed (a refusal that is an expected outcome, not an error)."""
    method, kwargs = single(action)
    return conditional(getattr(client, method), **kwargs)
