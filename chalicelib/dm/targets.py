"""Posting one message into existing conversations the sender names (forwarding, group shares).

Part of the dm data-access layer (keys and transaction actions, no client calls): callers fold
``target_keys`` and ``block_keys`` into their own batched reads, decide each target with
``decide_targets`` — the same rules as a send: an active member, within a pending request's
limit, no block either way in a direct conversation — and write ``post_actions`` in their own
transaction (3 actions per target; the member update re-checks membership and the limit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.core import keys, tx
from chalicelib.core.ddb import Item, item_key
from chalicelib.dm.records import ACTIVE, DIRECT

SENT, REQUEST_STATUS, NOT_ALLOWED = "sent", "request", "not_allowed"
ACTIONS_PER_TARGET = 3

Found = Mapping[tuple[str, str], Item]


@dataclass(frozen=True)
class Target:
    """What a send into one conversation would do: ``sent``, ``request`` or ``not_allowed``."""

    conversation_id: str
    status: str


def target_keys(sender: str, conversation_ids: Sequence[str]) -> list[keys.Key]:
    """Round 1: the sender's member item and META of each target."""
    out: list[keys.Key] = []
    for cid in conversation_ids:
        out += [keys.member(cid, sender), keys.conversation(cid)]
    return out


def direct_peers(found: Found, sender: str, conversation_ids: Sequence[str]) -> dict[str, str]:
    """The other member of each direct target (their blocks are read in round 2)."""
    peers: dict[str, str] = {}
    for cid in conversation_ids:
        meta = found.get(item_key(keys.conversation(cid))) or {}
        if meta.get("kind") == DIRECT:
            others = [m for m in meta.get("member_ids") or [] if m != sender]
            if others:
                peers[cid] = str(others[0])
    return peers


def block_keys(sender: str, peers: Mapping[str, str]) -> list[keys.Key]:
    """Round 2: block edges both ways between the sender and each direct peer."""
    out: list[keys.Key] = []
    for peer in dict.fromkeys(peers.values()):
        out += [keys.block(sender, peer), keys.block(peer, sender)]
    return out


def decide_targets(found: Found, sender: str, conversation_ids: Sequence[str]) -> list[Target]:
    """Each target's outcome from the two rounds' items (what ``POST …/messages`` would allow)."""
    peers = direct_peers(found, sender, conversation_ids)
    decided: list[Target] = []
    for cid in conversation_ids:
        member = found.get(item_key(keys.member(cid, sender)))
        meta = found.get(item_key(keys.conversation(cid)))
        status = SENT
        if member is None or meta is None or member.get("status") != ACTIVE:
            status = NOT_ALLOWED  # not a member, or a request the sender has not accepted
        elif member.get("send_limit") is not None:
            # The sender's own request is pending: within its limit it stays a request.
            within = int(member.get("sent_count") or 0) < int(member["send_limit"])
            status = REQUEST_STATUS if within else NOT_ALLOWED
        peer = peers.get(cid)
        blocked = peer is not None and (
            item_key(keys.block(sender, peer)) in found or item_key(keys.block(peer, sender)) in found
        )
        if blocked:
            status = NOT_ALLOWED
        decided.append(Target(cid, status))
    return decided


def post_actions(table: str, sender: str, message: Item) -> list[dict[str, Any]]:
    """The 3 actions posting ``message`` (a ``message_record``) into its conversation."""
    from chalicelib.dm.dal import (  # dal's own builders
        NEW_ITEM,
        _last_message_update,
        _sender_send_update,
        message_item,
    )

    cid = str(message["conversation_id"])
    return [
        _sender_send_update(table, cid, sender),
        tx.put(table, message_item(message), condition=NEW_ITEM),
        _last_message_update(table, message),
    ]
