"""Forwarding one message into up to 20 conversations (plain logic over a ``ForwardStore``).

Each target obeys the rules of a send from the caller (``chalicelib.dm.targets``); the forward is
one operation for the send rate limit. The Idempotency-Key record is written in the same
transaction as the messages: same key + same body → the original answer, another body → 422.
Calls: 1 or 2 BatchGetItem + 1 TransactWriteItems, for 1 target as for 20.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.core.errors import UnavailableError
from chalicelib.core.idempotency import IDEMPOTENCY_TTL_SECONDS, fingerprint, replay_or_reject
from chalicelib.dm.errors import ForwardReplayError, MessageNotFoundError
from chalicelib.dm.logic import RATE_LIMIT, RATE_WINDOW_MS, Clock
from chalicelib.dm.models import ForwardMessage
from chalicelib.dm.ports import ForwardStore
from chalicelib.dm.records import ACTIVE, Item, message_record
from chalicelib.dm.targets import NOT_ALLOWED, Target

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class ForwardSnapshot:
    """The batched reads: a replay record, or the source, the caller's access to it, the targets."""

    record: tuple[str, Item] | None = None  # (fingerprint, response)
    source: Item | None = None
    source_member: Item | None = None
    targets: list[Target] = field(default_factory=list)


@dataclass(frozen=True)
class ForwardPlan:
    """What the one forward transaction writes."""

    sender_id: str
    idem_key: str
    fingerprint: str
    response: Item
    expires_s: int
    messages: list[Item]
    window: int
    window_expires_s: int
    rate_limit: int
    retry_after_s: int


def _attachment(source: Item) -> Item | None:
    if not source.get("attachment_id"):
        return None
    return {
        "attachment_id": source["attachment_id"],
        "content_type": source.get("attachment_type"),
        "size_bytes": source.get("attachment_size"),
    }


def _plan(snapshot: ForwardSnapshot, clock: Clock, caller: str, idem_key: str, fp: str) -> ForwardPlan:
    source = snapshot.source
    member = snapshot.source_member
    visible = member is not None and member.get("status") in (ACTIVE, "request")
    if source is None or not visible or source.get("type") == "deleted":
        raise MessageNotFoundError("Message not found.")
    now = clock.now_ms()
    results: list[Item] = []
    messages: list[Item] = []
    for target in snapshot.targets:
        if target.status == NOT_ALLOWED:
            results.append({"conversation_id": target.conversation_id, "status": NOT_ALLOWED})
            continue
        mid = clock.new_id(now)
        messages.append(
            message_record(
                conversation_id=target.conversation_id,
                message_id=mid,
                sender_id=caller,
                client_message_id=f"forward:{mid}",
                now_ms=now,
                text=source.get("text"),
                attachment=_attachment(source),
                video=source.get("video"),
                forwarded=True,
                attachment_owner=str(source.get("attachment_owner") or source["sender_id"]),
            )
        )
        results.append(
            {"conversation_id": target.conversation_id, "status": target.status, "message_id": mid}
        )
    window = now // RATE_WINDOW_MS
    window_end_ms = (window + 1) * RATE_WINDOW_MS
    return ForwardPlan(
        sender_id=caller,
        idem_key=idem_key,
        fingerprint=fp,
        response={"results": results},
        expires_s=now // 1000 + IDEMPOTENCY_TTL_SECONDS,
        messages=messages,
        window=window,
        window_expires_s=window_end_ms // 1000 + 60,
        rate_limit=RATE_LIMIT,
        retry_after_s=max(1, -(-(window_end_ms - now) // 1000)),
    )


def _replay(record: tuple[str, Item], fp: str) -> Item:
    stored_fp, response = record
    return replay_or_reject(stored_fp, fp, dict(response))


def forward(store: ForwardStore, clock: Clock, caller: str, req: ForwardMessage, idem_key: str) -> Item:
    """Forward the source message to every target the caller may send to (``forwarded: true``,
    the same attachment and video card); ``{"results": [...]}`` in the request's order."""
    src = req.source
    fp = fingerprint("dm.forward", src.conversation_id, src.message_id, req.conversation_ids)
    for _ in range(MAX_ATTEMPTS):
        snapshot = store.load(caller, src.conversation_id, src.message_id, req.conversation_ids, idem_key)
        if snapshot.record is not None:
            return _replay(snapshot.record, fp)
        plan = _plan(snapshot, clock, caller, idem_key, fp)
        try:
            store.commit(plan)
            return plan.response
        except ForwardReplayError as done:  # a concurrent retry with the same key won
            return _replay((done.fingerprint, dict(done.response)), fp)
        except StaleTargetsError:
            continue
    raise UnavailableError("The conversations changed while forwarding; retry.")


class StaleTargetsError(Exception):
    """A target changed between the read and the transaction (left, limit reached): re-read."""
