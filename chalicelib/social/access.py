"""Who may reach whom: the one rule every domain uses (``can_message``).

Pure logic over a :class:`GraphReader`; the DynamoDB implementation reads the whole pair
state for any number of recipients with one BatchGetItem per 20 recipients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from chalicelib.social.ports import GraphReader

DM_POLICIES = ("everyone", "friends", "no_one")
DEFAULT_DM_POLICY = "friends"


class Reach(StrEnum):
    """Outcome of ``can_message``."""

    ALLOWED = "allowed"
    REQUEST = "request"
    DENIED = "denied"


@dataclass(frozen=True)
class PairState:
    """Everything about (sender, recipient) that decides reachability."""

    sender_follows: bool = False
    recipient_follows: bool = False
    sender_blocked_recipient: bool = False
    recipient_blocked_sender: bool = False
    recipient_policy: str = DEFAULT_DM_POLICY

    @property
    def friends(self) -> bool:
        """Friends are mutual follows."""
        return self.sender_follows and self.recipient_follows

    @property
    def blocked(self) -> bool:
        """A block either way cuts contact both ways."""
        return self.sender_blocked_recipient or self.recipient_blocked_sender


def decide(state: PairState) -> Reach:
    """Apply the DM rules to one pair."""
    if state.blocked or state.recipient_policy == "no_one":
        return Reach.DENIED
    if state.recipient_policy == "everyone" or state.friends:
        return Reach.ALLOWED
    return Reach.REQUEST


def can_message_many(graph: GraphReader, sender: str, recipients: Sequence[str]) -> dict[str, Reach]:
    """``can_message`` for many recipients with one batched graph read."""
    states = graph.pair_states(sender, list(dict.fromkeys(recipients)))
    return {r: (Reach.DENIED if r == sender else decide(states[r])) for r in recipients}


def can_message(graph: GraphReader, sender: str, recipient: str) -> Reach:
    """May ``sender`` message ``recipient``: allowed, as a request, or denied."""
    return can_message_many(graph, sender, [recipient])[recipient]
