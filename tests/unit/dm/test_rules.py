"""The one rule for where a direct message lands (DMs, shares): ``rules.direct_outcome``."""

from __future__ import annotations

import pytest

from chalicelib.dm.rules import SenderSide, direct_outcome
from chalicelib.social.access import PairState

FRIENDS = PairState(sender_follows=True, recipient_follows=True)
STRANGERS = PairState()


@pytest.mark.parametrize(
    ("pair", "existing", "side", "expected"),
    [
        # new conversations: reach decides
        (FRIENDS, False, None, "sent"),
        (STRANGERS, False, None, "request"),
        (PairState(recipient_policy="everyone"), False, None, "sent"),
        (PairState(recipient_policy="no_one"), False, None, "not_allowed"),
        (
            PairState(sender_follows=True, recipient_follows=True, recipient_blocked_sender=True),
            False,
            None,
            "not_allowed",
        ),
        (PairState(sender_blocked_recipient=True), False, None, "not_allowed"),
        # existing conversations: the sender's member item decides, as a DM send's condition does
        (STRANGERS, True, SenderSide("c", send_limit=1, sent_count=0), "request"),
        (STRANGERS, True, SenderSide("c", send_limit=1, sent_count=1), "not_allowed"),
        (FRIENDS, True, SenderSide("c", send_limit=1, sent_count=1), "not_allowed"),
        (STRANGERS, True, SenderSide("c", sent_count=7), "sent"),  # accepted
        (STRANGERS, True, SenderSide("c", status="request"), "not_allowed"),  # their request pending
        (FRIENDS, True, None, "not_allowed"),  # pointer without a member item
        # blocks and no_one still win in an existing conversation
        (PairState(recipient_blocked_sender=True), True, SenderSide("c"), "not_allowed"),
        (PairState(recipient_policy="no_one"), True, SenderSide("c"), "not_allowed"),
    ],
)
def test_direct_outcome(pair: PairState, existing: bool, side: SenderSide | None, expected: str) -> None:
    assert direct_outcome("alice", "bob", pair, existing, side) == expected


def test_messaging_yourself_is_not_allowed() -> None:
    assert direct_outcome("alice", "alice", FRIENDS, False, None) == "not_allowed"


def test_sender_side_from_a_member_item() -> None:
    side = SenderSide.from_item("c1", {"status": "active", "send_limit": 1, "sent_count": 1})
    assert side == SenderSide("c1", status="active", send_limit=1, sent_count=1)
    assert SenderSide.from_item("c1", None) is None
    assert SenderSide.from_item("c1", {"status": "active"}) == SenderSide("c1")
