"""Reactions to messages: one emoji grapheme per reaction, at most 30 distinct emoji a message.

Plain Python. One reaction is one item (``RXN#<message>#<emoji>#<user>``: its stream record
drives the ``reaction.added`` / ``reaction.removed`` frames and the author's push), and the
message item carries the aggregate (``records.reactions_view``), both written in ONE
transaction, so history shows exact counts without reading the reaction items.
"""

from __future__ import annotations

from urllib.parse import unquote

from chalicelib.core.errors import ValidationError
from chalicelib.core.ids import is_ulid
from chalicelib.dm.errors import MessageNotFoundError
from chalicelib.dm.ports import ReactionStore

MAX_EMOJI_CHARS = 32  # the longest emoji ZWJ sequences are ~10 code points; anything longer is not one


def parse_emoji(raw: str) -> str:
    """The path segment as exactly one emoji grapheme (skin tones and ZWJ sequences are one);
    anything else is a 400."""
    value = unquote(raw) if "%" in raw else raw  # gateways may hand the segment over still encoded
    if not value or len(value) > MAX_EMOJI_CHARS:
        raise ValidationError("emoji must be exactly one emoji.")
    import emoji as emoji_db  # the emoji database (~1 MB): loaded by reaction routes only

    if not emoji_db.is_emoji(value):
        raise ValidationError("emoji must be exactly one emoji.")
    return value


def _check_ids(conversation_id: str, message_id: str) -> None:
    if not is_ulid(conversation_id) or not is_ulid(message_id):
        raise MessageNotFoundError("Message not found.")


def react(
    store: ReactionStore, caller: str, conversation_id: str, message_id: str, raw_emoji: str, now_ms: int
) -> None:
    """Add the caller's reaction (1 call). Reacting again with the same emoji changes nothing."""
    emoji = parse_emoji(raw_emoji)
    _check_ids(conversation_id, message_id)
    store.add_reaction(conversation_id, message_id, emoji, caller, now_ms)


def unreact(store: ReactionStore, caller: str, conversation_id: str, message_id: str, raw_emoji: str) -> None:
    """Remove the caller's reaction (1 call; 2 when it was the emoji's last one)."""
    emoji = parse_emoji(raw_emoji)
    _check_ids(conversation_id, message_id)
    store.remove_reaction(conversation_id, message_id, emoji, caller)
