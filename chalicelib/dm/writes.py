"""dm's public write port: what another domain (share) may use to read or write dm's items
inside its own batched reads and transaction. dm alone builds, encodes and decodes its items;
other domains import this module, never ``chalicelib.dm.dal``."""

from __future__ import annotations

from chalicelib.dm.dal import DirectShareWrite, direct_pair_key, direct_share_write, sender_member_key
from chalicelib.dm.records import message_record
from chalicelib.dm.rules import SenderSide
from chalicelib.dm.targets import block_keys, decide_targets, direct_peers, post_actions, target_keys

__all__ = [
    "DirectShareWrite",
    "SenderSide",
    "block_keys",
    "decide_targets",
    "direct_pair_key",
    "direct_peers",
    "direct_share_write",
    "message_record",
    "post_actions",
    "sender_member_key",
    "target_keys",
]
