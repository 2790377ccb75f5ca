"""Direct-message rules: conversations, send, history, sync, read state, requests, inbox.

Plain Python: repositories arrive as Protocols, limits and time as values. The data access layer
(``dal.py``) implements the Protocols against DynamoDB/S3; unit tests use in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.core.clock import Clock
from chalicelib.core.cursor import decode_cursor, encode_cursor
from chalicelib.core.errors import ConflictError, ValidationError
from chalicelib.core.idempotency import (
    IDEMPOTENCY_TTL_SECONDS,
    ensure_same_request,
    fingerprint,
    replay_or_reject,
)
from chalicelib.core.ids import is_ulid
from chalicelib.dm.errors import (
    AttachmentInvalidError,
    ConversationNotFoundError,
    DirectExistsError,
    DuplicateClientMessageError,
    GroupReplayError,
    MessageNotFoundError,
    MessagingForbiddenError,
    NotAdminError,
)
from chalicelib.dm.models import MAX_MEMBERS, CreateConversation, SendMessage
from chalicelib.dm.ports import DmStore, Media, VideoCards
from chalicelib.dm.records import (
    ACTIVE,
    DIRECT,
    FOLDERS,
    GROUP,
    REQUEST,
    ConversationState,
    Item,
    conversation_view,
    direct_records,
    inbox_row,
    member_record,
    message_record,
    message_view,
    meta_record,
    reply_preview,
)
from chalicelib.social.access import GraphReader, Reach, can_message_many
from chalicelib.social.presence import PresenceReader, statuses

RATE_WINDOW_MS = 2000  # 5 messages/s sustained, bursts of 10: 10 per fixed 2-second window
RATE_LIMIT = 10
ATTACHMENT_TYPES = {
    "image/jpeg": 10 * 1024 * 1024,
    "image/png": 10 * 1024 * 1024,
    "image/webp": 10 * 1024 * 1024,
    "image/gif": 10 * 1024 * 1024,
    "video/mp4": 50 * 1024 * 1024,
}
DOWNLOAD_URL_SECONDS = 15 * 60


@dataclass(frozen=True)
class GroupReplayRecord:
    """The Idempotency-Key record a group creation writes in its own transaction."""

    idem_key: str
    fingerprint: str
    response: Item
    expires_s: int  # epoch seconds: the record's TTL


@dataclass(frozen=True)
class SendPlan:
    """Everything the one send transaction needs."""

    conversation_id: str
    sender_id: str
    message: Item
    fingerprint: str
    window: int
    window_expires_s: int
    rate_limit: int
    retry_after_s: int
    peer_id: str | None  # direct conversations: blocks either way are checked in the same transaction
    # The upload this message attaches (marked attached in the same transaction: an upload goes
    # with one message, and the sweeper leaves it alone from then on).
    attachment_id: str | None = None
    reply_of: str | None = None  # the quoted message: a pointer lets its unsend update the preview


# --- conversations ------------------------------------------------------------------------


def _require_state(store: DmStore, conversation_id: str, caller: str) -> ConversationState:
    """The conversation, or 404 when it does not exist or the caller is not a member."""
    state = store.load(conversation_id) if is_ulid(conversation_id) else None
    if state is None or caller not in state.members:
        raise ConversationNotFoundError("Conversation not found.")
    return state


def create_conversation(
    store: DmStore,
    graph: GraphReader,
    clock: Clock,
    caller: str,
    req: CreateConversation,
    idem_key: str | None = None,
) -> tuple[Item, bool]:
    """Create (or, for a direct pair, find) a conversation; returns (view, created).

    A direct conversation is idempotent by its pair. A group is idempotent by ``idem_key`` when
    the client sends one: the key's record is written in the group's own transaction, and a retry
    with the same body gets the original response (a different body → 422).
    """
    others = [m for m in dict.fromkeys(req.member_ids) if m != caller]
    if not others:
        raise ValidationError("member_ids must name at least one other user.")
    if len(others) == 1:
        return _create_direct(store, graph, clock, caller, others[0])
    return _create_group(store, graph, clock, caller, others, req.title, idem_key), True


def _create_direct(
    store: DmStore, graph: GraphReader, clock: Clock, caller: str, other: str
) -> tuple[Item, bool]:
    reach = can_message_many(graph, caller, [other])[other]
    if reach == Reach.DENIED:
        raise MessagingForbiddenError("You cannot message this user.")
    existing = store.find_direct(caller, other)
    if existing is None:
        now = clock.now_ms()
        cid = clock.new_id(now)
        meta, members = direct_records(cid, caller, other, request=reach == Reach.REQUEST, now_ms=now)
        try:
            store.create_conversation(meta, members, (caller, other))
            return conversation_view(
                ConversationState(meta, {m["user_id"]: m for m in members}), caller
            ), True
        except DirectExistsError as race:
            existing = race.conversation_id
    return conversation_view(_require_state(store, existing, caller), caller), False


def _new_members(
    conversation_id: str, caller: str, user_ids: Sequence[str], reach: dict[str, Reach], now_ms: int
) -> tuple[list[Item], list[str]]:
    """Member records of the users ``caller`` may message (in their requests when only a request
    is allowed), and the ids of those it may not (``not_added``)."""
    members = [
        member_record(
            conversation_id,
            u,
            role="member",
            status=REQUEST if reach[u] == Reach.REQUEST else ACTIVE,
            added_by=caller,
            now_ms=now_ms,
        )
        for u in user_ids
        if reach[u] != Reach.DENIED
    ]
    return members, [u for u in user_ids if reach[u] == Reach.DENIED]


def _create_group(
    store: DmStore,
    graph: GraphReader,
    clock: Clock,
    caller: str,
    others: list[str],
    title: str | None,
    idem_key: str | None,
) -> Item:
    """A new group; with ``idem_key`` its key record is written in the same transaction, and a
    retry with the same body gets the original response (a different body → 422)."""
    if len(others) + 1 > MAX_MEMBERS:
        raise ValidationError(f"A group has at most {MAX_MEMBERS} members.")
    reach = can_message_many(graph, caller, others)
    if all(reach[o] == Reach.DENIED for o in others):
        raise MessagingForbiddenError("You cannot message any of these users.")
    now = clock.now_ms()
    cid = clock.new_id(now)
    added, not_added = _new_members(cid, caller, others, reach, now)
    meta = meta_record(cid, GROUP, title, caller, [caller, *(m["user_id"] for m in added)], now)
    members = [
        member_record(cid, caller, role="admin", status=ACTIVE, added_by=caller, now_ms=now),
        *added,
    ]
    view = conversation_view(ConversationState(meta, {m["user_id"]: m for m in members}), caller)
    view["not_added"] = not_added
    if idem_key is None:
        store.create_conversation(meta, members, None)
        return view
    request_fp = fingerprint("dm.create_group", caller, sorted(others), title)
    replay = GroupReplayRecord(idem_key, request_fp, view, now // 1000 + IDEMPOTENCY_TTL_SECONDS)
    try:
        store.create_conversation(meta, members, None, replay)
    except GroupReplayError as done:
        return replay_or_reject(done.fingerprint, request_fp, dict(done.response))
    return view


def get_conversation(
    store: DmStore,
    caller: str,
    conversation_id: str,
    presence: PresenceReader | None = None,
    now_ms: int = 0,
) -> Item:
    """The conversation as its member sees it (404 for anyone else); with ``presence``, every
    member carries ``active`` / ``last_active_at`` as the caller may see them (+1 batched read)."""
    view = conversation_view(_require_state(store, conversation_id, caller), caller)
    if presence is not None:
        # A deleted account shows as ``{"user_id", "deleted": true}`` only: no presence.
        ids = [m["user_id"] for m in view["members"] if not m.get("deleted")]
        shown = statuses(presence, caller, ids, now_ms, with_blocks=True)
        view["members"] = [
            m if m.get("deleted") else {**m, **shown[m["user_id"]].view()} for m in view["members"]
        ]
    return view


def accept_request(store: DmStore, caller: str, conversation_id: str) -> Item:
    """The recipient accepts a message request: it moves to the inbox and the sender may write freely."""
    state = _require_state(store, conversation_id, caller)
    # Only a direct request limits its sender; accepting lifts that limit.
    others = [m for m in state.members if m != caller] if state.kind == DIRECT else []
    store.accept(conversation_id, caller, others)
    state.members[caller]["status"] = ACTIVE
    return conversation_view(state, caller)


def set_muted(store: DmStore, caller: str, conversation_id: str, muted: bool) -> Item:
    """Mute or unmute a conversation for the caller."""
    if not is_ulid(conversation_id) or not store.set_muted(conversation_id, caller, muted):
        raise ConversationNotFoundError("Conversation not found.")
    return {"conversation_id": conversation_id, "muted": muted}


def leave_conversation(store: DmStore, caller: str, conversation_id: str) -> None:
    """Leave a group, or hide a direct conversation until its next message."""
    state = _require_state(store, conversation_id, caller)
    if state.kind == DIRECT:
        store.hide(conversation_id, caller)
    else:
        store.remove_member(conversation_id, caller, list(state.meta.get("member_ids") or []))


def add_members(
    store: DmStore, graph: GraphReader, clock: Clock, caller: str, conversation_id: str, user_ids: list[str]
) -> Item:
    """The group's admin adds members (those the admin may not message are listed in ``not_added``)."""
    state = _require_state(store, conversation_id, caller)
    if state.kind != GROUP:
        raise ConflictError("Members of a direct conversation cannot change.")
    if state.role_of(caller) != "admin":
        raise NotAdminError("Only the group's admin may add members.")
    current = list(state.meta.get("member_ids") or [])
    new = [u for u in dict.fromkeys(user_ids) if u not in state.members and u != caller]
    if len(current) + len(new) > MAX_MEMBERS:
        raise ValidationError(f"A group has at most {MAX_MEMBERS} members.")
    reach = can_message_many(graph, caller, new) if new else {}
    members, not_added = _new_members(conversation_id, caller, new, reach, clock.now_ms())
    if members:
        store.add_members(conversation_id, current, members)
        state.meta["member_ids"] = current + [m["user_id"] for m in members]
        state.members.update({m["user_id"]: m for m in members})
    view = conversation_view(state, caller)
    view["not_added"] = not_added
    return view


def remove_member(store: DmStore, caller: str, conversation_id: str, user_id: str) -> None:
    """The admin removes a member, or a member removes themselves."""
    state = _require_state(store, conversation_id, caller)
    if state.kind != GROUP:
        raise ConflictError("Members of a direct conversation cannot change.")
    if user_id != caller and state.role_of(caller) != "admin":
        raise NotAdminError("Only the group's admin may remove other members.")
    if user_id not in state.members:
        raise ConversationNotFoundError("No such member in this conversation.")
    store.remove_member(conversation_id, user_id, list(state.meta.get("member_ids") or []))


# --- messages -----------------------------------------------------------------------------


def _attachment(media: Media, sender: str, attachment_id: str) -> Item:
    """The sender's uploaded attachment (HEAD): it must exist under their prefix and fit the rules."""
    found = media.head(sender, attachment_id)
    if found is None:
        raise AttachmentInvalidError("The attachment is unknown or has not been uploaded yet.")
    content_type, size = found
    limit = ATTACHMENT_TYPES.get(content_type)
    if limit is None or size < 1 or size > limit:
        raise AttachmentInvalidError("The uploaded attachment is not an allowed type or size.")
    return {"attachment_id": attachment_id, "content_type": content_type, "size_bytes": size}


def send_message(
    store: DmStore, media: Media, clock: Clock, caller: str, conversation_id: str, req: SendMessage
) -> tuple[Item, bool]:
    """Send a message (one transaction on the happy path); returns (message view, created).

    The same ``client_message_id`` again returns the original message (``created`` False); with
    a different body it is ``idempotency_key_reused``.
    """
    shape = store.shape(conversation_id) if is_ulid(conversation_id) else None
    if shape is None:
        raise ConversationNotFoundError("Conversation not found.")
    # reply_to joins the fingerprint only when set: earlier messages' fingerprints stay valid.
    extra = (req.reply_to,) if req.reply_to else ()
    request_fp = fingerprint("dm.send", conversation_id, req.text, req.attachment_id, *extra)
    attachment = _attachment(media, caller, req.attachment_id) if req.attachment_id else None
    quoted = None
    if req.reply_to is not None:
        original = store.get_message(conversation_id, req.reply_to)
        # An unsent original cannot be quoted any more than one that never existed.
        if original is None or original.get("type") == "deleted":
            raise MessageNotFoundError("The message to reply to was not found.")
        quoted = reply_preview(original)
    now = clock.now_ms()
    message = message_record(
        conversation_id=conversation_id,
        message_id=clock.new_id(now),
        sender_id=caller,
        client_message_id=req.client_message_id,
        now_ms=now,
        text=req.text,
        attachment=attachment,
        reply_to=quoted,
    )
    window = now // RATE_WINDOW_MS
    window_end_ms = (window + 1) * RATE_WINDOW_MS
    plan = SendPlan(
        conversation_id=conversation_id,
        sender_id=caller,
        message=message,
        fingerprint=request_fp,
        window=window,
        window_expires_s=window_end_ms // 1000 + 60,
        rate_limit=RATE_LIMIT,
        retry_after_s=max(1, -(-(window_end_ms - now) // 1000)),
        peer_id=shape.peer_of(caller),
        attachment_id=req.attachment_id if attachment else None,
        reply_of=req.reply_to,
    )
    try:
        store.send(plan)
    except DuplicateClientMessageError as dup:
        ensure_same_request(dup.fingerprint, request_fp)
        original = store.get_message(conversation_id, dup.message_id)
        if original is None:  # the guard is written with the message; absence means it was never sent
            raise MessageNotFoundError("The original message was not found.") from dup
        return with_urls(media, message_view(original)), False
    return with_urls(media, message_view(message)), True


def with_urls(media: Media, view: Item) -> Item:
    """Add a short-lived presigned GET to a message view's attachment (members only call this)."""
    att = view.get("attachment")
    if att:
        att = {
            **att,
            "url": media.download_url(
                att.get("owner_id") or view["sender_id"], att["attachment_id"], DOWNLOAD_URL_SECONDS
            ),
        }
        view = {**view, "attachment": att}
    return view


def list_messages(
    store: DmStore,
    media: Media,
    cards: VideoCards | None,
    secret: str,
    caller: str,
    conversation_id: str,
    limit: int,
    cursor: str | None,
    after: str | None,
) -> Item:
    """History newest first; with ``after`` the messages newer than it, oldest first (sync)."""
    if not is_ulid(conversation_id) or store.get_member(conversation_id, caller) is None:
        raise ConversationNotFoundError("Conversation not found.")
    if after is not None and not is_ulid(after):
        raise ValidationError("after must be a message_id.")
    listing = f"dm.messages:{conversation_id}:{after or ''}"
    start = None
    if cursor:
        start = str(decode_cursor(secret, caller, listing, cursor).get("after_sk", "")) or None
    items, next_sk = store.history(conversation_id, limit, start, after)
    views = [message_view(m, caller) for m in items]
    if cards is not None:
        shared = [v["video"] for v in views if v.get("video")]
        if shared:
            resolved = cards.cards(caller, shared)
            views = [
                {**v, "video": resolved.get(v["video"].get("video_id"), v["video"])} if v.get("video") else v
                for v in views
            ]
    return {
        "items": [with_urls(media, v) for v in views],
        "next_cursor": encode_cursor(secret, caller, listing, {"after_sk": next_sk}) if next_sk else None,
    }


def unsend(store: DmStore, caller: str, conversation_id: str, message_id: str, now_ms: int) -> None:
    """The sender unsends a message: it stays in place as ``{"type": "deleted"}``."""
    if not is_ulid(conversation_id) or not is_ulid(message_id):
        raise MessageNotFoundError("Message not found.")
    store.unsend(conversation_id, message_id, caller, now_ms)
    # Replies quoting it show ``{"message_id", "deleted": true}`` from now on (the inbox
    # projection repeats this from the stream, so a crash here heals).
    store.hide_reply_previews(conversation_id, message_id)


def mark_read(store: DmStore, caller: str, conversation_id: str, message_id: str, now_ms: int) -> None:
    """Move the caller's read marker to ``message_id`` (never backwards) and recount unread messages.

    ``unread_count`` is exact: messages from others after the marker up to the projection's
    watermark; the projection counts the later ones. The write is conditional on the watermark,
    so a concurrent projection update makes us recount instead of double-counting.
    """
    if not is_ulid(conversation_id):
        raise ConversationNotFoundError("Conversation not found.")
    for _ in range(3):
        member, exists = store.read_context(conversation_id, caller, message_id)
        if member is None:
            raise ConversationNotFoundError("Conversation not found.")
        if not exists:
            raise MessageNotFoundError("Message not found.")
        current = member.get("last_read_message_id")
        if current is not None and current >= message_id:
            return  # markers only move forward; re-reading an older message is a no-op
        watermark = member.get("last_message_id")
        unread = 0
        if watermark is not None and watermark > message_id:
            unread = store.count_from_others(conversation_id, caller, message_id, watermark)
        if store.set_read(conversation_id, caller, message_id, unread, watermark, now_ms):
            return
    raise ConflictError("The read marker changed concurrently; retry.")


# --- inbox --------------------------------------------------------------------------------


def inbox(store: DmStore, secret: str, caller: str, folder: str, limit: int, cursor: str | None) -> Item:
    """The caller's conversations of one folder, most recent activity first (2 calls)."""
    if folder not in FOLDERS:
        raise ValidationError("folder must be 'inbox' or 'requests'.")
    listing = f"dm.inbox:{folder}"
    start = decode_cursor(secret, caller, listing, cursor) if cursor else None
    members, next_key = store.inbox(caller, folder, limit, start)
    last_ids = {m["conversation_id"]: m.get("last_message_id") for m in members}
    metas, lasts = store.metas_and_messages(
        [m["conversation_id"] for m in members], [(c, mid) for c, mid in last_ids.items() if mid]
    )
    rows = [
        inbox_row(m, metas[m["conversation_id"]], lasts.get(str(m.get("last_message_id"))), caller)
        for m in members
        if m["conversation_id"] in metas
    ]
    return {
        "items": rows,
        "next_cursor": encode_cursor(secret, caller, listing, next_key) if next_key else None,
    }
