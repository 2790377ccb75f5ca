"""Data access of the dm domain: the only dm module that knows keys, boto3 and the table layout.

Conversation partition ``CONV#<id>`` holds, in sort-key order: ``CMID#<sender>#<client id>``
guards, ``MEMBER#<user>`` items, ``META``, then ``MSG#<ulid>`` messages (always last, so
``sk > MSG#x`` ranges stay within messages). Member items carry GSI1 keys for their user's
inbox folder. See ``docs/data-model.md (dm section)`` for every access pattern and its call count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.core import clients, idempotency, keys, tx
from chalicelib.core.clock import iso_from_ms
from chalicelib.core.ddb import (
    ConditionFailed,
    Item,
    TransactionCancelled,
    batch_delete,
    batch_get,
    call,
    deserialize,
    get_item,
    query_all,
    query_page,
    serialize,
    values,
)
from chalicelib.core.errors import ConflictError, UnavailableError
from chalicelib.core.settings import get_settings
from chalicelib.dm.errors import (
    AttachmentInvalidError,
    ConversationNotFoundError,
    DirectExistsError,
    DuplicateClientMessageError,
    GroupReplayError,
    MessageDeletedError,
    MessageNotFoundError,
    MessagingForbiddenError,
    NotSenderError,
    RequestPendingError,
    SendRateLimitedError,
    TooManyReactionsError,
)
from chalicelib.dm.logic import GroupReplayRecord, SendPlan
from chalicelib.dm.records import (
    ACTIVE,
    DIRECT,
    FOLDERS,
    HIDDEN_FOLDER,
    MAX_DISTINCT_REACTIONS,
    REACTION_EMOJI,
    REACTION_FIRST,
    REACTION_USERS,
    REQUEST,
    ConversationState,
    Shape,
    direct_records,
    folder_of,
    last_message_summary,
    message_record,
)
from chalicelib.dm.uploads import PendingUpload

REACTION_ATTEMPTS = 4
MESSAGES_HIGH = f"{keys.MESSAGE_PREFIX}~"  # "~" sorts after every ULID character
ATTACHMENT_PREFIX = "attachments"
_SHAPE_CACHE_MAX = 50_000
_shapes: dict[str, Shape] = {}


def _strip(item: Item | None) -> Item | None:
    """An item without its key attributes (what logic and views work with)."""
    if item is None:
        return None
    return {
        k: v
        for k, v in item.items()
        if k not in (keys.PK, keys.SK, keys.GSI1PK, keys.GSI1SK, keys.GSI2PK, keys.GSI2SK)
    }


def member_item(record: Item) -> Item:
    """A member record with its keys (GSI1 puts it in its user's inbox folder)."""
    cid, uid = record["conversation_id"], record["user_id"]
    activity = record.get("last_message_id") or cid
    return {
        **keys.member(cid, uid),
        **keys.inbox_entry(uid, folder_of(str(record["status"])), str(activity)),
        **record,
    }


def message_item(record: Item) -> Item:
    """A message record with its keys."""
    return {**keys.message(record["conversation_id"], record["message_id"]), **record}


# A Put only if the key is free.
NEW_ITEM = "attribute_not_exists(pk)"


def _last_message_update(table: str, message: Item) -> dict[str, Any]:
    """A transaction Update of META: ``message`` becomes the conversation's last message."""
    return tx.update(
        table,
        keys.conversation(message["conversation_id"]),
        "SET last_message = :lm, last_message_id = :mid, updated_at = :at",
        condition="attribute_exists(pk)",
        lm=last_message_summary(message),
        mid=message["message_id"],
        at=message["sent_at"],
    )


# Placeholders of the member attributes that optimistic writes check (see ``_unchanged``).
_READ_MARK_PLACEHOLDERS = {"last_message_id": "w", "last_read_message_id": "r"}


def _unchanged(read: Mapping[str, Any], *attributes: str) -> tuple[list[str], dict[str, Any]]:
    """Conditions that a member's ``attributes`` (watermark, read marker) still hold what ``read``
    had, absent ones still absent, plus their placeholder values: a write computed from a read
    applies only if nothing moved since."""
    conditions: list[str] = []
    named: dict[str, Any] = {}
    for attr in attributes:
        if read.get(attr) is None:
            conditions.append(f"attribute_not_exists({attr})")
        else:
            conditions.append(f"{attr} = :{_READ_MARK_PLACEHOLDERS[attr]}")
            named[_READ_MARK_PLACEHOLDERS[attr]] = read[attr]
    return conditions, named


def attachment_object_key(owner_id: str, attachment_id: str) -> str:
    """Objects live under their owner's prefix, so a message can only reference its sender's uploads."""
    return f"{ATTACHMENT_PREFIX}/{owner_id}/{attachment_id}"


class DynamoDmStore:
    """``logic.DmStore`` on the single table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    # --- conversations --------------------------------------------------------------------

    def find_direct(self, user_a: str, user_b: str) -> str | None:
        """GetItem of the pair pointer."""
        item = get_item(self._client, self._table, keys.direct_pair(user_a, user_b))
        return str(item["conversation_id"]) if item else None

    def create_conversation(
        self,
        meta: Item,
        members: Sequence[Item],
        pair: tuple[str, str] | None,
        replay: GroupReplayRecord | None = None,
    ) -> None:
        """One TransactWriteItems: pair pointer (direct) or Idempotency-Key record (group), META,
        members — all or nothing."""
        cid = meta["conversation_id"]
        actions: list[dict[str, Any]] = []
        if pair is not None:
            actions.append(
                tx.put(
                    self._table,
                    pair_item(pair[0], pair[1], cid),
                    condition=NEW_ITEM,
                    return_old_on_failure=True,
                )
            )
        elif replay is not None:
            record_key = keys.idempotency(str(meta["created_by"]), "dm.group", replay.idem_key)
            put_record, _ = idempotency.record(
                self._table,
                record_key,
                replay.fingerprint,
                expires_s=replay.expires_s,
                response=replay.response,
            )
            actions.append(put_record)
        actions.append(tx.put(self._table, {**keys.conversation(cid), **meta}, condition=NEW_ITEM))
        actions += [tx.put(self._table, member_item(m), condition=NEW_ITEM) for m in members]
        try:
            tx.transact(self._client, actions)
        except TransactionCancelled as err:
            existing = err.item(0) if (pair is not None or replay is not None) and err.failed(0) else None
            if existing is not None and pair is not None:
                raise DirectExistsError(str(existing["conversation_id"])) from err
            if existing is not None:
                raise GroupReplayError(str(existing["fingerprint"]), dict(existing["response"])) from err
            raise ConflictError("The conversation could not be created; retry.") from err

    def load(self, conversation_id: str) -> ConversationState | None:
        """One Query: ``MEMBER#…`` items and ``META`` are adjacent (``MEMBER#`` < ``META``)."""
        out = call(
            self._client.query,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues=values(
                pk=keys.conversation_pk(conversation_id), lo=keys.MEMBER_PREFIX, hi=keys.META_SK
            ),
            ConsistentRead=True,
        )
        meta: Item | None = None
        members: dict[str, Item] = {}
        for raw in out.get("Items", []):
            item = _strip(deserialize(raw)) or {}
            if item.get("entity") == "conversation":
                meta = item
            elif item.get("entity") == "member":
                members[str(item["user_id"])] = item
        if meta is None:
            return None
        return ConversationState(meta, members)

    def shape(self, conversation_id: str) -> Shape | None:
        """Kind and direct members never change: cached per container, so a warm send is one call."""
        cached = _shapes.get(conversation_id)
        if cached is not None:
            return cached
        item = get_item(
            self._client,
            self._table,
            keys.conversation(conversation_id),
            consistent=False,
            projection="kind, member_ids",
        )
        if not item:
            return None
        kind = str(item.get("kind"))
        shape = Shape(kind, tuple(item.get("member_ids") or ()) if kind == DIRECT else ())
        if len(_shapes) >= _SHAPE_CACHE_MAX:
            _shapes.clear()
        _shapes[conversation_id] = shape
        return shape

    # --- send -----------------------------------------------------------------------------

    def send(self, plan: SendPlan) -> None:
        """ONE TransactWriteItems; on cancellation each action's reason says why.

        0 sender's member item (must be an active member within any request limit; counts sends)
        1 client_message_id guard (replays return the original)
        2 rate-limit window counter
        3 the message
        4 META (last message, activity)
        5,6 no block either way (direct conversations)
        """
        cid, sender, msg = plan.conversation_id, plan.sender_id, plan.message
        actions: list[dict[str, Any]] = [
            _sender_send_update(self._table, cid, sender, return_old_on_failure=True),
            idempotency.record(  # the client_message_id guard (kept without TTL, as before)
                self._table,
                keys.client_message(cid, sender, str(msg["client_message_id"])),
                plan.fingerprint,
                expires_s=None,
                entity="client_message",
                message_id=msg["message_id"],
            )[0],
            _send_window_update(self._table, sender, plan.window, plan.window_expires_s, plan.rate_limit),
            tx.put(self._table, message_item(msg), condition=NEW_ITEM),
            _last_message_update(self._table, msg),
        ]
        upload_at: int | None = None
        reply_pointer = None
        if plan.reply_of is not None:
            reply_pointer = tx.put(
                self._table,
                {
                    **keys.reply_pointer(cid, plan.reply_of, str(msg["message_id"])),
                    "entity": "reply_pointer",
                    "message_id": msg["message_id"],
                },
            )
        if plan.peer_id is not None:
            for blocker, blocked in ((sender, plan.peer_id), (plan.peer_id, sender)):
                actions.append(
                    tx.check(self._table, keys.block(blocker, blocked), "attribute_not_exists(pk)")
                )
        if plan.attachment_id is not None:
            # The upload goes with this one message: the sweeper stops counting it as pending.
            upload_at = len(actions)
            actions.append(
                tx.update(
                    self._table,
                    keys.upload(sender, plan.attachment_id),
                    "SET message_id = :mid, conversation_id = :cid REMOVE gsi2pk, gsi2sk",
                    condition="attribute_exists(pk) AND attribute_not_exists(message_id)",
                    mid=msg["message_id"],
                    cid=cid,
                )
            )
        if reply_pointer is not None:  # last, so the reasons' indexes above stay put
            actions.append(reply_pointer)
        try:
            tx.transact(self._client, actions)
        except TransactionCancelled as err:
            self._explain_send_failure(err, plan, upload_at)

    @staticmethod
    def _explain_send_failure(
        err: TransactionCancelled, plan: SendPlan, upload_at: int | None = None
    ) -> None:
        """Map cancellation reasons to one outcome, most decisive first."""
        member = err.item(0)
        if err.failed(0) and member is None:
            raise ConversationNotFoundError("Conversation not found.") from err
        if err.failed(1):
            guard = err.item(1) or {}
            raise DuplicateClientMessageError(
                str(guard.get("message_id", "")), str(guard.get("fingerprint", ""))
            ) from err
        if upload_at is not None and err.failed(upload_at):
            raise AttachmentInvalidError(
                "The attachment is unknown, expired, or already sent in another message."
            ) from err
        if err.failed(5) or err.failed(6):
            raise MessagingForbiddenError("You cannot message this user.") from err
        if err.failed(0) and member is not None:
            if member.get("status") == REQUEST:
                raise RequestPendingError("Accept the message request before replying.") from err
            raise RequestPendingError(
                "You can send more messages once your request has been accepted."
            ) from err
        if err.failed(2):
            raise SendRateLimitedError(
                "You are sending messages too fast.", retry_after=plan.retry_after_s
            ) from err
        if err.failed(4):
            raise ConversationNotFoundError("Conversation not found.") from err
        raise UnavailableError("The message could not be sent; retry.") from err

    # --- messages -------------------------------------------------------------------------

    def get_message(self, conversation_id: str, message_id: str) -> Item | None:
        """GetItem (consistent)."""
        return _strip(get_item(self._client, self._table, keys.message(conversation_id, message_id)))

    def get_member(self, conversation_id: str, user_id: str) -> Item | None:
        """GetItem (consistent)."""
        return _strip(get_item(self._client, self._table, keys.member(conversation_id, user_id)))

    def history(
        self, conversation_id: str, limit: int, start_after: str | None, newer_than: str | None
    ) -> tuple[list[Item], str | None]:
        """One Query: newest first, or (sync) oldest first strictly after ``newer_than``."""
        pk = keys.conversation_pk(conversation_id)
        params: dict[str, Any] = {
            "TableName": self._table,
            "Limit": limit,
            "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
        }
        if newer_than is None:
            params["ExpressionAttributeValues"] = values(pk=pk, lo=keys.MESSAGE_PREFIX, hi=MESSAGES_HIGH)
            params["ScanIndexForward"] = False
        else:
            # "!" sorts before every ULID character: the range starts just after ``newer_than``.
            low = keys.message_sk(newer_than) + "!"
            params["ExpressionAttributeValues"] = values(pk=pk, lo=low, hi=MESSAGES_HIGH)
            params["ScanIndexForward"] = True
        if start_after:
            params["ExclusiveStartKey"] = serialize({keys.PK: pk, keys.SK: start_after})
        out = call(self._client.query, **params)
        items = [_strip(deserialize(raw)) or {} for raw in out.get("Items", [])]
        last = deserialize(out.get("LastEvaluatedKey"))
        return items, (str(last[keys.SK]) if last else None)

    def read_context(self, conversation_id: str, user_id: str, message_id: str) -> tuple[Item | None, bool]:
        """One BatchGetItem: the member item and the message's key."""
        wanted = [keys.member(conversation_id, user_id), keys.message(conversation_id, message_id)]
        found = self._batch_get(wanted, projection="pk, sk, last_read_message_id, last_message_id, entity")
        member = found.get((wanted[0][keys.PK], wanted[0][keys.SK]))
        return _strip(member), (wanted[1][keys.PK], wanted[1][keys.SK]) in found

    def count_from_others(
        self, conversation_id: str, user_id: str, after_id: str | None, through_id: str
    ) -> int:
        """Query (sender and type only) of messages in (after, through]; pages until done.

        Unsent messages (tombstones) are not unread: there is nothing left to read.
        """
        messages = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues=values(
                pk=keys.conversation_pk(conversation_id),
                lo=keys.message_sk(after_id) + "!" if after_id else keys.message_sk(""),
                hi=keys.message_sk(through_id),
            ),
            ProjectionExpression="sender_id, #type",
            ExpressionAttributeNames={"#type": "type"},
            ConsistentRead=True,
        )
        return sum(1 for m in messages if m.get("sender_id") != user_id and m.get("type") != "deleted")

    def set_unread(self, member: Item, unread: int) -> bool:
        """Conditional UpdateItem: the recount holds only if marker and watermark are unchanged."""
        conditions, named = _unchanged(member, "last_message_id", "last_read_message_id")
        return tx.write_if(
            self._client,
            tx.update(
                self._table,
                keys.member(str(member["conversation_id"]), str(member["user_id"])),
                "SET unread_count = :n",
                condition=" AND ".join(conditions),
                n=unread,
                **named,
            ),
        )

    def set_read(
        self,
        conversation_id: str,
        user_id: str,
        message_id: str,
        unread: int,
        watermark: str | None,
        now_ms: int,
    ) -> bool:
        """Conditional UpdateItem: forward-only marker, unchanged projection watermark."""
        (mark,), named = _unchanged({"last_message_id": watermark}, "last_message_id")
        return tx.write_if(
            self._client,
            tx.update(
                self._table,
                keys.member(conversation_id, user_id),
                "SET last_read_message_id = :mid, unread_count = :n, read_at = :at",
                condition="attribute_exists(pk) AND (attribute_not_exists(last_read_message_id) "
                f"OR last_read_message_id < :mid) AND {mark}",
                mid=message_id,
                n=unread,
                at=iso_from_ms(now_ms),
                **named,
            ),
        )

    def set_muted(self, conversation_id: str, user_id: str, muted: bool) -> bool:
        """Conditional UpdateItem (member must exist)."""
        return tx.write_if(
            self._client,
            tx.update(
                self._table,
                keys.member(conversation_id, user_id),
                "SET muted = :m",
                condition="attribute_exists(pk)",
                m=muted,
            ),
        )

    def accept(self, conversation_id: str, user_id: str, other_ids: Sequence[str]) -> None:
        """One transaction: the member becomes active (inbox folder), the others lose their send limit."""
        actions: list[dict[str, Any]] = [
            tx.update(
                self._table,
                keys.member(conversation_id, user_id),
                "SET #status = :active, gsi1pk = :inbox, "
                "gsi1sk = if_not_exists(last_message_id, :cid) REMOVE is_hidden",
                condition="attribute_exists(pk)",
                active=ACTIVE,
                inbox=keys.inbox(user_id, "inbox"),
                cid=conversation_id,
            )
        ]
        for other in other_ids:
            actions.append(
                tx.update(
                    self._table,
                    keys.member(conversation_id, other),
                    "REMOVE send_limit",
                    condition="attribute_exists(pk)",
                )
            )
        try:
            tx.transact(self._client, actions)
        except TransactionCancelled as err:
            if err.failed(0):
                raise ConversationNotFoundError("Conversation not found.") from err
            raise ConflictError("The conversation changed; retry.") from err

    def hide(self, conversation_id: str, user_id: str) -> None:
        """UpdateItem: move the GSI1 entry to the ``hidden`` folder (out of the inbox, which lists
        only ``inbox`` and ``requests``) until the projection sees a new message. Still indexed,
        so an account deletion finds every conversation of the user (issue 20)."""
        try:
            tx.write(
                self._client,
                tx.update(
                    self._table,
                    keys.member(conversation_id, user_id),
                    "SET is_hidden = :t, gsi1pk = :hidden",
                    condition="attribute_exists(pk)",
                    t=True,
                    hidden=keys.inbox(user_id, HIDDEN_FOLDER),
                ),
            )
        except ConditionFailed as err:
            raise ConversationNotFoundError("Conversation not found.") from err

    def add_members(self, conversation_id: str, old_ids: Sequence[str], new_members: Sequence[Item]) -> None:
        """One transaction: META's member list (optimistic on the old list) and the new member items."""
        new_ids = [*old_ids, *(m["user_id"] for m in new_members)]
        actions = [self._set_member_ids(conversation_id, old_ids, new_ids)]
        actions += [tx.put(self._table, member_item(m), condition=NEW_ITEM) for m in new_members]
        try:
            tx.transact(self._client, actions)
        except TransactionCancelled as err:
            raise ConflictError("The group's members changed; retry.") from err

    def remove_member(self, conversation_id: str, user_id: str, old_ids: Sequence[str]) -> None:
        """One transaction: delete the member item and update META's member list."""
        new_ids = [m for m in old_ids if m != user_id]
        actions = [
            self._set_member_ids(conversation_id, old_ids, new_ids),
            tx.delete(self._table, keys.member(conversation_id, user_id), condition="attribute_exists(pk)"),
            # Their messages stay in the group: an account deletion must still find it (issue 20).
            tx.put(
                self._table,
                {
                    **keys.former_conversation(user_id, conversation_id),
                    "entity": "former_member",
                    "conversation_id": conversation_id,
                },
            ),
        ]
        try:
            tx.transact(self._client, actions)
        except TransactionCancelled as err:
            if err.failed(1):
                raise ConversationNotFoundError("No such member in this conversation.") from err
            raise ConflictError("The group's members changed; retry.") from err

    def _set_member_ids(self, cid: str, old_ids: Sequence[str], new_ids: Sequence[str]) -> dict[str, Any]:
        return tx.update(
            self._table,
            keys.conversation(cid),
            "SET member_ids = :new",
            condition="member_ids = :old",
            new=list(new_ids),
            old=list(old_ids),
        )

    def unsend(self, conversation_id: str, message_id: str, caller: str, now_ms: int) -> None:
        """One transaction: the caller is a member, and the message is theirs → tombstone."""
        at = iso_from_ms(now_ms)
        actions = [
            tx.check(self._table, keys.member(conversation_id, caller), "attribute_exists(pk)"),
            tx.update(
                self._table,
                keys.message(conversation_id, message_id),
                "SET #type = :deleted, deleted_at = :at "
                "REMOVE #text, attachment_id, attachment_type, attachment_size, video",
                condition="attribute_exists(pk) AND sender_id = :caller",
                return_old_on_failure=True,
                deleted="deleted",
                at=at,
                caller=caller,
            ),
        ]
        try:
            tx.transact(self._client, actions)
        except TransactionCancelled as err:
            if err.failed(0):
                raise ConversationNotFoundError("Conversation not found.") from err
            if err.failed(1) and err.item(1) is None:
                raise MessageNotFoundError("Message not found.") from err
            raise NotSenderError("Only the sender may unsend a message.") from err

    def hide_reply_previews(self, conversation_id: str, message_id: str) -> int:
        """Query the reply pointers of ``message_id``; one conditional UpdateItem per reply sets
        its quote to the deleted preview (idempotent). Returns how many replies there were."""
        prefix = keys.replies_prefix(conversation_id, message_id)
        pointers = list(
            query_all(
                self._client,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                ExpressionAttributeValues=values(pk=prefix[keys.PK], p=prefix[keys.SK]),
                ConsistentRead=True,
            )
        )
        for pointer in pointers:
            tx.write_if(
                self._client,
                tx.update(
                    self._table,
                    keys.message(conversation_id, str(pointer["message_id"])),
                    "SET reply_to = :gone",
                    condition="attribute_exists(reply_to)",
                    gone={"message_id": message_id, "deleted": True},
                ),
            )
        return len(pointers)

    # --- reactions ------------------------------------------------------------------------

    def _active_member_check(self, conversation_id: str, user_id: str) -> dict[str, Any]:
        return tx.check(
            self._table,
            keys.member(conversation_id, user_id),
            "attribute_exists(pk) AND #status = :active",
            return_old_on_failure=True,
            active=ACTIVE,
        )

    def _transact_retrying(self, actions: list[dict[str, Any]]) -> None:
        """TransactWriteItems, retried with jitter when DynamoDB reports a conflict or throttling
        (``UnavailableError``): reactions to one hot message race on its aggregate."""
        tx.transact_retrying(self._client, actions, attempts=REACTION_ATTEMPTS, backoff_s=0.02)

    @staticmethod
    def _explain_reaction_failure(err: TransactionCancelled) -> Item | None:
        """Raise the decisive error of a cancelled reaction transaction (member, then message);
        returns the message's old image when only the aggregate's own condition failed."""
        if err.failed(0):
            if err.item(0) is None:
                raise ConversationNotFoundError("Conversation not found.") from err
            raise RequestPendingError("Accept the message request before reacting.") from err
        if err.failed(2):
            message = err.item(2)
            if message is None:
                raise MessageNotFoundError("Message not found.") from err
            if message.get("type") == "deleted":
                raise MessageDeletedError("The message was unsent.") from err
            return message
        return None

    def add_reaction(
        self, conversation_id: str, message_id: str, emoji: str, user_id: str, now_ms: int
    ) -> None:
        """ONE TransactWriteItems.

        0 the caller is an active member
        1 the reaction item (absent: a repeat is a no-op)
        2 the message: add the user to ``rx:<emoji>``, the emoji to ``rx_emoji`` (≤ 30 distinct),
          first use kept in ``rxt:<emoji>``; not a tombstone
        """
        reaction = {
            **keys.reaction(conversation_id, message_id, emoji, user_id),
            "entity": "reaction",
            "conversation_id": conversation_id,
            "message_id": message_id,
            "emoji": emoji,
            "user_id": user_id,
            "reacted_at": now_ms,
        }
        actions = [
            self._active_member_check(conversation_id, user_id),
            tx.put(self._table, reaction, condition=NEW_ITEM),
            tx.update(
                self._table,
                keys.message(conversation_id, message_id),
                "ADD #users :me, #present :emojis SET #first = if_not_exists(#first, :now)",
                condition="attribute_exists(pk) AND #type <> :deleted AND "
                "(attribute_not_exists(#present) OR contains(#present, :emoji) OR size(#present) < :max)",
                names={
                    "#users": REACTION_USERS + emoji,
                    "#first": REACTION_FIRST + emoji,
                    "#present": REACTION_EMOJI,
                },
                return_old_on_failure=True,
                me={user_id},
                emojis={emoji},
                emoji=emoji,
                now=now_ms,
                deleted="deleted",
                max=MAX_DISTINCT_REACTIONS,
            ),
        ]
        try:
            self._transact_retrying(actions)
        except TransactionCancelled as err:
            if self._explain_reaction_failure(err) is not None:
                raise TooManyReactionsError(
                    f"A message carries at most {MAX_DISTINCT_REACTIONS} different emoji."
                ) from err
            if not err.failed(1):
                raise UnavailableError("The reaction could not be saved; retry.") from err
            # Only the reaction item existed: the caller had already reacted so (idempotent).

    def remove_reaction(self, conversation_id: str, message_id: str, emoji: str, user_id: str) -> None:
        """ONE TransactWriteItems while others keep the emoji; when the caller's was its last
        reaction the aggregate condition fails and a second transaction also drops the emoji."""
        names = {
            "#users": REACTION_USERS + emoji,
            "#type": "type",
        }
        last = False
        for _ in range(4):
            if last:
                update = "DELETE #users :me, #present :emojis REMOVE #first"
                condition = "attribute_exists(pk) AND #type <> :deleted AND size(#users) = :one"
                attr_names = {**names, "#present": REACTION_EMOJI, "#first": REACTION_FIRST + emoji}
                vals: dict[str, Any] = {"me": {user_id}, "emojis": {emoji}, "deleted": "deleted", "one": 1}
            else:
                update = "DELETE #users :me"
                condition = "attribute_exists(pk) AND #type <> :deleted AND size(#users) > :one"
                attr_names = names
                vals = {"me": {user_id}, "deleted": "deleted", "one": 1}
            actions = [
                self._active_member_check(conversation_id, user_id),
                tx.delete(
                    self._table,
                    keys.reaction(conversation_id, message_id, emoji, user_id),
                    condition="attribute_exists(pk)",
                ),
                tx.update(
                    self._table,
                    keys.message(conversation_id, message_id),
                    update,
                    condition=condition,
                    names=attr_names,
                    return_old_on_failure=True,
                    **vals,
                ),
            ]
            try:
                self._transact_retrying(actions)
                return
            except TransactionCancelled as err:
                message = self._explain_reaction_failure(err)
                if err.failed(1):
                    return  # no such reaction: nothing to remove (idempotent)
                if message is None:
                    raise UnavailableError("The reaction could not be removed; retry.") from err
                # The other variant fits the emoji's current count; recompute from what we saw.
                last = len(message.get(REACTION_USERS + emoji) or ()) <= 1
        raise ConflictError("The reactions changed concurrently; retry.")

    # --- account deletion (issue 20) -------------------------------------------------------

    def conversations_of(self, user_id: str, *, former: bool = False) -> list[str]:
        """Every conversation ``user_id`` is a member of: GSI1 Queries of the inbox, requests
        and hidden folders (paged); with ``former``, also the groups they left (``LEFT#``)."""
        found: list[str] = []
        if former:
            prefix = keys.former_conversation(user_id, "")
            found += [
                str(item["conversation_id"])
                for item in query_all(
                    self._client,
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                    ExpressionAttributeValues=values(pk=prefix[keys.PK], p=prefix[keys.SK]),
                    ProjectionExpression="conversation_id",
                )
            ]
        for folder in (*FOLDERS, HIDDEN_FOLDER):
            for item in query_all(
                self._client,
                TableName=self._table,
                IndexName=keys.GSI1,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues=values(pk=keys.inbox(user_id, folder)),
                ProjectionExpression="conversation_id",
            ):
                found.append(str(item["conversation_id"]))
        return list(dict.fromkeys(found))

    def messages_by(self, conversation_id: str, sender_id: str) -> list[Item]:
        """The sender's messages in a conversation that are not tombstones yet (paged Query of
        ``MSG#`` items, filtered on the sender)."""
        return [
            _strip(item) or {}
            for item in query_all(
                self._client,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
                FilterExpression="sender_id = :s AND #type <> :deleted",
                ExpressionAttributeNames={"#type": "type"},
                ExpressionAttributeValues=values(
                    pk=keys.conversation_pk(conversation_id),
                    m=keys.MESSAGE_PREFIX,
                    s=sender_id,
                    deleted="deleted",
                ),
                ConsistentRead=True,
            )
        ]

    def unsend_many(
        self, conversation_id: str, sender_id: str, message_ids: Sequence[str], now_ms: int
    ) -> None:
        """Tombstone a sender's messages as :meth:`unsend` does, 100 per TransactWriteItems (no
        member check: the sender is leaving). Repeating it is harmless (same tombstone)."""
        at = iso_from_ms(now_ms)
        for start in range(0, len(message_ids), 100):
            actions = [
                tx.update(
                    self._table,
                    keys.message(conversation_id, mid),
                    "SET #type = :deleted, deleted_at = :at "
                    "REMOVE #text, attachment_id, attachment_type, attachment_size, video",
                    condition="attribute_exists(pk) AND sender_id = :s",
                    deleted="deleted",
                    at=at,
                    s=sender_id,
                )
                for mid in message_ids[start : start + 100]
            ]
            tx.transact(self._client, actions)

    def forget_client_message_ids(self, conversation_id: str, sender_id: str) -> int:
        """Delete the sender's ``CMID#`` guards (they hold a hash of each message's content):
        one Query ``begins_with CMID#<sender>#`` + BatchWriteItem deletes."""
        guards = list(
            query_all(
                self._client,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :g)",
                ExpressionAttributeValues=values(
                    pk=keys.conversation_pk(conversation_id),
                    g=keys.client_message(conversation_id, sender_id, "")[keys.SK],
                ),
                ProjectionExpression="pk, sk",
            )
        )
        batch_delete(self._client, self._table, guards)
        return len(guards)

    def mark_member_deleted(self, conversation_id: str, user_id: str) -> None:
        """A deleted account's membership of a direct conversation: the member item keeps only
        ``deleted`` (out of every folder), META lists the id in ``deleted_member_ids`` so the
        other member sees ``{"user_id", "deleted": true}``. Idempotent."""
        tx.transact(
            self._client,
            [
                tx.update(
                    self._table,
                    keys.member(conversation_id, user_id),
                    "SET deleted = :t REMOVE gsi1pk, gsi1sk, last_message, "
                    "muted, is_hidden, read_at, added_by",
                    condition="attribute_exists(pk)",
                    t=True,
                ),
                tx.update(
                    self._table, keys.conversation(conversation_id), "ADD deleted_member_ids :u", u={user_id}
                ),
            ],
        )

    # --- inbox ----------------------------------------------------------------------------

    def inbox(
        self, user_id: str, folder: str, limit: int, start_after: dict[str, Any] | None
    ) -> tuple[list[Item], dict[str, Any] | None]:
        """One Query on GSI1, newest activity first."""
        rows, last = query_page(
            self._client,
            self._table,
            index=keys.GSI1,
            key_attribute=keys.GSI1PK,
            key_value=keys.inbox(user_id, folder),
            limit=limit,
            start=start_after,
        )
        return [_strip(row) or {} for row in rows], last

    def metas(self, conversation_ids: Sequence[str]) -> dict[str, Item]:
        """One BatchGetItem of META items (≤ 100 ids per page of the inbox; none for no ids)."""
        found = self._batch_get([keys.conversation(c) for c in conversation_ids])
        return {str(i["conversation_id"]): _strip(i) or {} for i in found.values()}

    def metas_and_messages(
        self, conversation_ids: Sequence[str], messages: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, Item], dict[str, Item]]:
        """One BatchGetItem of META items and the rows' last messages (their live reactions);
        a page of more than 50 rows takes a second one (100 keys per call)."""
        wanted = [keys.conversation(c) for c in conversation_ids]
        wanted += [keys.message(c, m) for c, m in messages]
        metas: dict[str, Item] = {}
        found: dict[str, Item] = {}
        for item in self._batch_get(wanted).values():
            entity = item.get("entity")
            if entity == "conversation":
                metas[str(item["conversation_id"])] = _strip(item) or {}
            elif entity == "message":
                found[str(item["message_id"])] = _strip(item) or {}
        return metas, found

    # --- projection / outbox support ------------------------------------------------------

    def members_of(self, conversation_id: str) -> list[Item]:
        """One Query of ``MEMBER#`` items (consistent)."""
        out = call(
            self._client.query,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
            ExpressionAttributeValues=values(pk=keys.conversation_pk(conversation_id), m=keys.MEMBER_PREFIX),
            ConsistentRead=True,
        )
        return [_strip(deserialize(raw)) or {} for raw in out.get("Items", [])]

    def project_member(
        self,
        member: Item,
        *,
        last_message: Item,
        unread_increment: int,
    ) -> bool:
        """Move one member's inbox entry forward to ``last_message`` (optimistic on what we read).

        Conditional on the watermark and read marker we computed from, so a replay or a concurrent
        read never double-counts; False means re-read and recompute.
        """
        cid, uid = member["conversation_id"], member["user_id"]
        mid = last_message["message_id"]
        conditions, named = _unchanged(member, "last_message_id", "last_read_message_id")
        return tx.write_if(
            self._client,
            tx.update(
                self._table,
                keys.member(cid, uid),
                "SET last_message = :lm, last_message_id = :mid, updated_at = :at, "
                "gsi1pk = :gpk, gsi1sk = :mid REMOVE is_hidden ADD unread_count :inc",
                condition=" AND ".join(["attribute_exists(pk)", *conditions]),
                lm=last_message,
                mid=mid,
                at=last_message["sent_at"],
                gpk=keys.inbox(uid, folder_of(str(member.get("status", ACTIVE)))),
                inc=unread_increment,
                **named,
            ),
        )

    def mark_last_deleted(self, conversation_id: str, user_id: str | None, message_id: str) -> None:
        """If ``message_id`` is the shown last message (of META or a member), show it as deleted."""
        key = keys.conversation(conversation_id) if user_id is None else keys.member(conversation_id, user_id)
        tx.write_if(
            self._client,
            tx.update(
                self._table,
                key,
                "SET last_message.#type = :d, last_message.preview = :empty",
                condition="last_message_id = :mid",
                d="deleted",
                empty="",
                mid=message_id,
            ),
        )

    # --- helpers --------------------------------------------------------------------------

    def _batch_get(
        self, item_keys: Sequence[keys.Key], projection: str | None = None
    ) -> dict[tuple[str, str], Item]:
        return batch_get(self._client, self._table, item_keys, projection=projection)


def pair_item(user_a: str, user_b: str, conversation_id: str) -> Item:
    """The canonical pointer from an unordered pair to its direct conversation."""
    return {**keys.direct_pair(user_a, user_b), "entity": "direct_pair", "conversation_id": conversation_id}


# --- building blocks for the share domain ---------------------------------------------------


def direct_pair_key(user_a: str, user_b: str) -> keys.Key:
    """Key of the pair pointer: BatchGet these for all recipients, then call ``direct_share_write``."""
    return keys.direct_pair(user_a, user_b)


def sender_member_key(conversation_id: str, sender_id: str) -> keys.Key:
    """Key of the sender's member item in a direct conversation the pointer named: BatchGet it
    with the share's second read, then ``rules.SenderSide.from_item`` / ``rules.direct_outcome``."""
    return keys.member(conversation_id, sender_id)


def _sender_send_update(
    table: str, conversation_id: str, sender_id: str, *, return_old_on_failure: bool = False
) -> dict[str, Any]:
    """A transaction Update counting one more message from the sender, under the same condition
    as a DM send: an active member within any request limit (so racing shares cannot pass it)."""
    return tx.update(
        table,
        keys.member(conversation_id, sender_id),
        "ADD sent_count :one",
        condition="attribute_exists(pk) AND #status = :active AND "
        "(attribute_not_exists(send_limit) OR attribute_not_exists(sent_count) "
        "OR sent_count < send_limit)",
        return_old_on_failure=return_old_on_failure,
        one=1,
        active=ACTIVE,
    )


def _send_window_update(table: str, sender_id: str, window: int, expires_s: int, limit: int) -> tx.Action:
    """A transaction Update counting one more message in the sender's DM rate window, refused
    while the window is full."""
    return tx.update(
        table,
        keys.rate_window("dm_send", sender_id, window),
        "ADD n :one SET #ttl = :ttl, entity = :entity",
        condition="attribute_not_exists(n) OR n < :limit",
        names={"#ttl": keys.TTL},
        one=1,
        ttl=expires_s,
        limit=limit,
        entity="rate_window",
    )


@dataclass(frozen=True)
class DirectShareWrite:
    """TransactWriteItems actions posting one ``video_share`` message to one recipient."""

    conversation_id: str
    message_id: str
    created_conversation: bool
    actions: list[dict[str, Any]]
    message: Item


def direct_share_write(
    *,
    table: str,
    sender_id: str,
    recipient_id: str,
    request: bool,
    existing_conversation_id: str | None,
    conversation_id: str,
    message_id: str,
    video: Item,
    text: str | None,
    client_message_id: str,
    now_ms: int,
) -> DirectShareWrite:
    """Actions for "ensure the direct conversation, then put a ``video_share`` message".

    ``existing_conversation_id`` is what a batched read of ``direct_pair_key`` found (None → the
    conversation is created here, with request semantics when ``request``; ``conversation_id`` is
    then its new ULID). 3 actions for an existing conversation, 5 for a new one. The caller
    decided the outcome with ``rules.direct_outcome`` from a batched read (blocks, policy, the
    sender's member item); the write re-checks the request limit like a DM send does: an existing
    conversation's sender member item must still be active and under its ``send_limit`` (it
    counts the message), and a new conversation's pair pointer must still be free.
    """
    cid = existing_conversation_id or conversation_id
    msg = message_record(
        conversation_id=cid,
        message_id=message_id,
        sender_id=sender_id,
        client_message_id=client_message_id,
        now_ms=now_ms,
        text=text,
        video=video,
    )

    actions: list[dict[str, Any]] = []
    if existing_conversation_id is None:
        meta, (sender, recipient) = direct_records(
            cid, sender_id, recipient_id, request=request, now_ms=now_ms
        )
        meta.update(
            last_message=last_message_summary(msg), last_message_id=message_id, updated_at=msg["sent_at"]
        )
        actions += [
            tx.put(table, pair_item(sender_id, recipient_id, cid), condition=NEW_ITEM),
            tx.put(table, {**keys.conversation(cid), **meta}, condition=NEW_ITEM),
            tx.put(table, member_item(sender | {"sent_count": 1}), condition=NEW_ITEM),
            tx.put(table, member_item(recipient), condition=NEW_ITEM),
        ]
    else:
        actions.append(_last_message_update(table, msg))
        actions.append(_sender_send_update(table, cid, sender_id))
    actions.append(tx.put(table, message_item(msg), condition=NEW_ITEM))
    return DirectShareWrite(cid, message_id, existing_conversation_id is None, actions, msg)


# --- S3 -------------------------------------------------------------------------------------


class S3Media:
    """``logic.Media`` on the media bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def head(self, owner_id: str, attachment_id: str) -> tuple[str, int] | None:
        """HeadObject under the owner's prefix (the one extra call of an attachment message)."""
        from botocore.exceptions import ClientError

        try:
            out = self._client.head_object(
                Bucket=self._bucket, Key=attachment_object_key(owner_id, attachment_id)
            )
        except ClientError as err:
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (403, 404):
                return None
            raise UnavailableError("The media store is unavailable; retry.") from err
        return str(out.get("ContentType", "")), int(out.get("ContentLength", 0))

    def presign_upload(
        self, owner_id: str, attachment_id: str, content_type: str, size_bytes: int, expires_s: int
    ) -> Item:
        """Presigned POST: exact key under the owner's prefix, fixed type, exact size (local signing)."""
        out: Item = self._client.generate_presigned_post(
            Bucket=self._bucket,
            Key=attachment_object_key(owner_id, attachment_id),
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", size_bytes, size_bytes],
                ["starts-with", "$key", f"{ATTACHMENT_PREFIX}/{owner_id}/"],
            ],
            ExpiresIn=expires_s,
        )
        return {"url": out["url"], "fields": out["fields"]}

    def delete(self, owner_id: str, attachment_id: str) -> None:
        """HeadObject + DeleteObject of that version: the object is gone for good, not hidden
        behind a delete marker (the bucket is versioned; any other version of the key, e.g. a
        second POST within the upload's 5 minutes, expires by the lifecycle rule). Idempotent."""
        from botocore.exceptions import ClientError

        key = attachment_object_key(owner_id, attachment_id)
        try:
            out = self._client.head_object(Bucket=self._bucket, Key=key)
            version = out.get("VersionId")
            if version and version != "null":
                self._client.delete_object(Bucket=self._bucket, Key=key, VersionId=version)
            else:
                self._client.delete_object(Bucket=self._bucket, Key=key)
        except ClientError as err:
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (403, 404):
                return  # already gone (HEAD of a missing key is 403 without ListBucket)
            raise UnavailableError("The media store is unavailable; retry.") from err

    def download_url(self, owner_id: str, attachment_id: str, expires_s: int) -> str:
        """Presigned GET (local signing, no call)."""
        return str(
            self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": attachment_object_key(owner_id, attachment_id)},
                ExpiresIn=expires_s,
            )
        )


class DynamoUploads:
    """``uploads.UploadStore``: ``UPLOAD#<owner>#<id>`` records (GSI2 due bucket while pending)
    and the ``RATE#uploads#<owner> / D#<day>`` quota counter."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def record(
        self,
        owner_id: str,
        attachment_id: str,
        size_bytes: int,
        *,
        day: int,
        max_uploads: int,
        max_bytes: int,
        due_hour: int,
        now_ms: int,
    ) -> bool:
        """One TransactWriteItems: the quota (count < max and bytes + size ≤ max) and the record."""
        from chalicelib.dm.uploads import HOUR_MS

        quota_ttl = (day + 2) * 86_400
        record = {
            **keys.upload(owner_id, attachment_id),
            **keys.pending_upload(due_hour, owner_id, attachment_id),
            "entity": "upload",
            "owner_id": owner_id,
            "attachment_id": attachment_id,
            "size_bytes": size_bytes,
            "created_at": iso_from_ms(now_ms),
            # Backstop only: the sweeper deletes pending records; attached ones guard reuse.
            keys.TTL: (due_hour * HOUR_MS) // 1000 + 7 * 86_400,
        }
        actions = [
            tx.update(
                self._table,
                keys.upload_quota(owner_id, day),
                "ADD uploads :one, bytes_used :size SET entity = :entity, #ttl = :ttl",
                condition="(attribute_not_exists(uploads) OR uploads < :max_n) AND "
                "(attribute_not_exists(bytes_used) OR bytes_used <= :room)",
                names={"#ttl": keys.TTL},
                one=1,
                size=size_bytes,
                entity="upload_quota",
                ttl=quota_ttl,
                max_n=max_uploads,
                room=max_bytes - size_bytes,
            ),
            tx.put(self._table, record, condition=NEW_ITEM),
        ]
        try:
            tx.transact(self._client, actions)
        except TransactionCancelled as err:
            if err.failed(0):
                return False
            raise ConflictError("The upload could not be recorded; retry.") from err
        return True

    def due(self, hour: int) -> list[PendingUpload]:
        """Query GSI2 ``UPLOADS#<hour>`` (every page)."""
        rows = query_all(
            self._client,
            TableName=self._table,
            IndexName=keys.GSI2,
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues=values(pk=keys.pending_uploads_bucket(hour)),
        )
        return [PendingUpload(str(r["owner_id"]), str(r["attachment_id"])) for r in rows]

    def forget(self, upload: PendingUpload) -> bool:
        """DeleteItem of the record, only while no message attached it."""
        return tx.write_if(
            self._client,
            tx.delete(
                self._table,
                keys.upload(upload.owner_id, upload.attachment_id),
                condition="attribute_exists(pk) AND attribute_not_exists(message_id)",
            ),
        )


def uploads() -> DynamoUploads:
    """The upload records and quotas."""
    return DynamoUploads(clients.dynamodb(), get_settings().table_name)


def store() -> DynamoDmStore:
    """The dm repository (cheap: the client underneath is cached per container)."""
    return DynamoDmStore(clients.dynamodb(), get_settings().table_name)


def media() -> S3Media:
    """The media bucket."""
    return S3Media(clients.s3(), get_settings().media_bucket)


class DynamoReportStore:
    """``reports.ReportStore`` on the single table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def put_report(self, report: Item) -> None:
        """PutItem (new id, so no condition is needed beyond uniqueness)."""
        tx.write(
            self._client,
            tx.put(
                self._table,
                # Listed under the reporter (GSI1) so a data export finds the reports filed (issue 20).
                {
                    **keys.report(str(report["report_id"])),
                    **keys.gsi1(
                        keys.listing(str(report["reporter_id"]), "REPORTS"), str(report["report_id"])
                    ),
                    **report,
                },
                condition="attribute_not_exists(pk)",
            ),
        )


def report_store() -> DynamoReportStore:
    """The report repository."""
    return DynamoReportStore(clients.dynamodb(), get_settings().table_name)
