"""Send rules for conversations named by id (forwarding, group shares), from batched reads."""

from __future__ import annotations

from typing import Any

from chalicelib.core import keys
from chalicelib.core.ddb import item_key
from chalicelib.dm.targets import Target, block_keys, decide_targets, direct_peers


def _found(*items: tuple[keys.Key, dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {item_key(k): {**k, **v} for k, v in items}


def test_each_target_gets_what_a_send_would_do() -> None:
    # Given: a group alice is active in, her pending request (within / past its limit), a direct
    # conversation whose peer blocked her, one she only received as a request, and a stranger's
    found = _found(
        (keys.conversation("G"), {"kind": "group", "member_ids": ["alice", "bob", "carol"]}),
        (keys.member("G", "alice"), {"status": "active"}),
        (keys.conversation("R1"), {"kind": "direct", "member_ids": ["alice", "dave"]}),
        (keys.member("R1", "alice"), {"status": "active", "send_limit": 1, "sent_count": 0}),
        (keys.conversation("R2"), {"kind": "direct", "member_ids": ["alice", "ed"]}),
        (keys.member("R2", "alice"), {"status": "active", "send_limit": 1, "sent_count": 1}),
        (keys.conversation("B"), {"kind": "direct", "member_ids": ["alice", "erin"]}),
        (keys.member("B", "alice"), {"status": "active"}),
        (keys.block("erin", "alice"), {}),
        (keys.conversation("Q"), {"kind": "direct", "member_ids": ["alice", "fay"]}),
        (keys.member("Q", "alice"), {"status": "request"}),
        (keys.conversation("X"), {"kind": "group", "member_ids": ["gus", "hal"]}),
    )
    targets = ["G", "R1", "R2", "B", "Q", "X", "MISSING"]
    # When decided; Then
    assert decide_targets(found, "alice", targets) == [
        Target("G", "sent"),
        Target("R1", "request"),
        Target("R2", "not_allowed"),
        Target("B", "not_allowed"),
        Target("Q", "not_allowed"),
        Target("X", "not_allowed"),
        Target("MISSING", "not_allowed"),
    ]
    # And only direct peers' blocks are read, both ways
    peers = direct_peers(found, "alice", targets)
    assert peers == {"R1": "dave", "R2": "ed", "B": "erin", "Q": "fay"}
    assert keys.block("alice", "erin") in block_keys("alice", peers)
    assert keys.block("erin", "alice") in block_keys("alice", peers)
