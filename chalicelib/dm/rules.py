"""What a direct message from one user to another would do, decided from batched state (no I/O).

Every path that puts a message into someone's direct conversation (a DM, a share, a forward)
applies this one rule, so a share can never reach further than a DM would: blocks and the
``no_one`` policy deny; a stranger gets ONE message into the recipient's requests until they
accept; a sender who has a pending request *from* the other side must accept it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.dm.records import ACTIVE
from chalicelib.social.access import PairState, Reach, decide

Outcome = Literal["sent", "request", "not_allowed"]
SENT: Outcome = "sent"
REQUEST: Outcome = "request"
NOT_ALLOWED: Outcome = "not_allowed"


@dataclass(frozen=True)
class SenderSide:
    """The sender's member item in an existing direct conversation (read in a batch)."""

    conversation_id: str
    status: str = ACTIVE
    send_limit: int | None = None
    sent_count: int = 0

    @classmethod
    def from_item(cls, conversation_id: str, item: dict[str, Any] | None) -> SenderSide | None:
        """From a member item (None when absent: the conversation is not usable)."""
        if item is None:
            return None
        limit = item.get("send_limit")
        return cls(
            conversation_id=conversation_id,
            status=str(item.get("status", ACTIVE)),
            send_limit=int(limit) if limit is not None else None,
            sent_count=int(item.get("sent_count") or 0),
        )


def direct_outcome(
    sender: str,
    recipient: str,
    pair: PairState,
    existing: bool,
    side: SenderSide | None,
) -> Outcome:
    """Where a message from ``sender`` to ``recipient`` lands: ``sent`` (inbox), ``request``
    (requests folder) or ``not_allowed`` (nothing is written; callers never say why).

    ``existing``: a direct conversation of the pair exists; ``side`` is the sender's member item
    in it. In a new conversation the pair's reach decides (allowed → inbox, else a request that
    the recipient must accept before a second message). In an existing one, what a DM would
    meet decides: the sender's status and remaining request allowance.
    """
    if sender == recipient:
        return NOT_ALLOWED
    reach = decide(pair)
    if reach is Reach.DENIED:
        return NOT_ALLOWED
    if not existing:
        return SENT if reach is Reach.ALLOWED else REQUEST
    if side is None or side.status != ACTIVE:
        return NOT_ALLOWED  # a request from them is pending: accept it before writing back
    if side.send_limit is None:
        return SENT  # accepted, or opened while allowed: the recipient's inbox
    if side.sent_count >= side.send_limit:
        return NOT_ALLOWED  # the one request message was used; wait for the recipient
    return REQUEST
