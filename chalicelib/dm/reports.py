"""Reports (trust and safety): plain logic over Protocols (uploads: ``uploads.py``)."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.core.clock import iso_from_ms
from chalicelib.core.errors import ValidationError
from chalicelib.core.ids import is_ulid
from chalicelib.dm.errors import ReportTargetNotFoundError
from chalicelib.dm.logic import Clock, DmStore
from chalicelib.dm.models import CreateReport
from chalicelib.dm.ports import ReportStore
from chalicelib.dm.records import Item, message_view

ChatLookup = Callable[[str, str], "Item | None"]


def _evidence_of_message(store: DmStore, caller: str, conversation_id: str, message_id: str) -> Item:
    """A copy of a message the caller can see (member of its conversation)."""
    if not is_ulid(conversation_id) or not is_ulid(message_id):
        raise ReportTargetNotFoundError("Nothing to report here.")
    if store.get_member(conversation_id, caller) is None:
        raise ReportTargetNotFoundError("Nothing to report here.")
    message = store.get_message(conversation_id, message_id)
    if message is None:
        raise ReportTargetNotFoundError("Nothing to report here.")
    return message_view(message)


def create_report(
    store: DmStore,
    reports: ReportStore,
    find_chat_message: ChatLookup,
    clock: Clock,
    caller: str,
    req: CreateReport,
) -> Item:
    """Record a report of something the caller can see, keeping a copy of reported content."""
    evidence: Item | None = None
    conversation_id = req.conversation_id
    if req.target_type == "message":
        if conversation_id is None:
            raise ValidationError("conversation_id is required to report a message.")
        evidence = _evidence_of_message(store, caller, conversation_id, req.target_id)
    elif req.target_type == "conversation":
        conversation_id = req.target_id
        state = store.load(conversation_id) if is_ulid(conversation_id) else None
        if state is None or caller not in state.members:
            raise ReportTargetNotFoundError("Nothing to report here.")
        evidence = {"kind": state.kind, "title": state.meta.get("title"), "member_ids": sorted(state.members)}
    elif req.target_type == "user":
        if req.target_id == caller:
            raise ValidationError("You cannot report yourself.")
        if conversation_id is not None:
            state = store.load(conversation_id) if is_ulid(conversation_id) else None
            if state is None or caller not in state.members or req.target_id not in state.members:
                raise ReportTargetNotFoundError("Nothing to report here.")
    else:  # stream_message
        if req.stream_id is None:
            raise ValidationError("stream_id is required to report a stream message.")
        evidence = find_chat_message(req.stream_id, req.target_id)
        if evidence is None:
            raise ReportTargetNotFoundError("Nothing to report here.")
    now = clock.now_ms()
    report_id = clock.new_id(now)
    reports.put_report(
        {
            "entity": "report",
            "report_id": report_id,
            "reporter_id": caller,
            "target_type": req.target_type,
            "target_id": req.target_id,
            "conversation_id": conversation_id,
            "stream_id": req.stream_id,
            "reason": req.reason,
            "details": req.details,
            "evidence": evidence,
            "created_at": iso_from_ms(now),
        }
    )
    return {"report_id": report_id}
