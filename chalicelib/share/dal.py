"""Data access of the share domain: the only share module that knows keys and boto3.

See ``docs/data-model.md (share section)`` for every access pattern and its AWS calls.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chalicelib.core import clients, idempotency, keys, tx
from chalicelib.core.clock import iso_from_ms, ms_from_iso
from chalicelib.core.ddb import (
    BATCH_GET_MAX_KEYS,
    TransactionCancelled,
    batch_get,
    conditional,
    get_item,
    item_key,
    query_all,
    query_page,
    serialize,
    values,
)
from chalicelib.core.errors import UnavailableError
from chalicelib.core.idempotency import IDEMPOTENCY_TTL_SECONDS
from chalicelib.core.observability import logger
from chalicelib.core.settings import get_settings
from chalicelib.dm.writes import (
    SenderSide,
    block_keys,
    decide_targets,
    direct_pair_key,
    direct_peers,
    direct_share_write,
    message_record,
    post_actions,
    sender_member_key,
    target_keys,
)
from chalicelib.share.logic import (
    ConversationDelivery,
    Delivery,
    SharePlan,
    ShareRateLimitedError,
    ShareRecord,
    ShareRecordExistsError,
    ShareSnapshot,
    StaleReadError,
)
from chalicelib.share.models import VideoEvent
from chalicelib.share.videos import Video, VideoNotFoundError
from chalicelib.social.access import PairState
from chalicelib.social.graph import pair_state_keys, pair_states_from

THUMBNAIL_URL_SECONDS = 15 * 60


def video_from_item(item: dict[str, Any]) -> Video:
    """A projection item → :class:`Video`."""
    return Video(
        video_id=str(item["video_id"]),
        author_id=str(item.get("author_id", "")),
        title=str(item.get("title", "")),
        visibility=str(item.get("visibility", "private")),
        share_count=int(item.get("share_count", 0)),
        thumbnail_key=item.get("thumbnail_key"),
        deleted=bool(item.get("deleted", False)),
    )


class DynamoVideos:
    """The video projection in the single table (one item per video)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, video_id: str) -> Video | None:
        """One consistent GetItem."""
        item = get_item(self._client, self._table, keys.video(video_id))
        return video_from_item(item) if item else None

    def get_many(self, video_ids: Sequence[str]) -> dict[str, Video]:
        """One BatchGetItem for up to 100 ids (more ids → one call per 100)."""
        found = batch_get(self._client, self._table, [keys.video(v) for v in video_ids], consistent=False)
        videos = (video_from_item(item) for item in found.values())
        return {video.video_id: video for video in videos}

    def apply(self, event: VideoEvent, now_ms: int) -> bool:
        """One conditional UpdateItem: newest ``occurred_at`` wins, a tombstone is final.

        ``share_count`` is never touched by events (it is this service's own counter).
        """
        names = {"#d": "deleted"}
        common = {
            "entity": "video",
            "video_id": event.video_id,
            "occurred_at": event.occurred_at,
            "occurred_ms": event.occurred_ms,
            "updated_at": iso_from_ms(now_ms),
        }
        if event.type == "video.deleted":
            fields = {**common, "deleted": True}
            removed = ["title", "thumbnail_key"]
            condition = "attribute_not_exists(pk) OR #d = :false"
        else:
            fields = {
                **common,
                "deleted": False,
                "author_id": event.author_id,
                "title": event.title,
                "visibility": event.visibility,
            }
            removed = []
            if event.thumbnail_key:
                fields["thumbnail_key"] = event.thumbnail_key
            else:
                removed.append("thumbnail_key")
            condition = "attribute_not_exists(pk) OR (#t < :occurred_ms AND #d = :false)"
            names["#t"] = "occurred_ms"
        if event.type == "video.deleted" and event.author_id:
            fields["author_id"] = event.author_id
        sets = []
        for i, name in enumerate(fields):
            names[f"#f{i}"] = name
            sets.append(f"#f{i} = :{name}")
        sets.append("share_count = if_not_exists(share_count, :zero)")
        expression = "SET " + ", ".join(sets)
        if removed:
            for i, name in enumerate(removed):
                names[f"#r{i}"] = name
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removed)))
        return conditional(
            self._client.update_item,
            TableName=self._table,
            Key=serialize(keys.video(event.video_id)),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values(**fields, zero=0, false=False),
        )


class S3UrlSigner:
    """Presigned GETs of media objects (no network call: signing is local)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def thumbnail_url(self, key: str) -> str:
        """A GET URL valid for 15 minutes."""
        return str(
            self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=THUMBNAIL_URL_SECONDS
            )
        )


def videos() -> DynamoVideos:
    """The video projection repository."""
    return DynamoVideos(clients.dynamodb(), get_settings().table_name)


def url_signer() -> S3UrlSigner:
    """Presigner for the media bucket."""
    return S3UrlSigner(clients.s3(), get_settings().media_bucket)


# --- sharing --------------------------------------------------------------------------------

TRANSACT_MAX_ACTIONS = 100
# positions of the record, the video update and the rate window in the first transaction
_RECORD, _VIDEO, _RATE = 0, 1, 2


def record_from_item(item: dict[str, Any]) -> ShareRecord:
    """An idempotency/share record item → :class:`ShareRecord`."""
    return ShareRecord(
        share_id=str(item.get("share_id", "")),
        fingerprint=str(item.get("fingerprint", "")),
        response=dict(item.get("response") or {}),
        pending=item.get("state") == "pending",
        pending_actions=item.get("pending_actions"),
    )


class DynamoShares:
    """Reads and writes of one share: 2 BatchGetItem + 1 or 2 TransactWriteItems."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    # reads ------------------------------------------------------------------------------

    def _batch_get(self, item_keys: Sequence[keys.Key]) -> dict[tuple[str, str], dict[str, Any]]:
        return batch_get(self._client, self._table, item_keys)

    def load(
        self,
        sharer: str,
        video_id: str,
        recipients: Sequence[str],
        idem_key: str,
        conversation_ids: Sequence[str] = (),
    ) -> ShareSnapshot:
        """Two batched reads (≤ 100 keys each for 20 targets).

        Round 1: video, idempotency record, direct-pair pointers, the sharer's member item and
        META of each conversation target, and the first social keys.
        Round 2 (skipped when the record exists or the video is gone): the remaining social keys,
        the sharer's member item in every existing direct conversation with a recipient (the
        request limit a DM would meet), blocks with the peers of direct conversation targets and,
        for a friends-only video, the follow edges between its author and every viewer.
        """
        others = [r for r in dict.fromkeys(recipients) if r != sharer]
        # The social graph's own key set, folded into this module's two batched reads.
        graph_keys = pair_state_keys(sharer, others)
        record_key = keys.share_idempotency(sharer, video_id, idem_key)
        first = [keys.video(video_id), record_key] + [direct_pair_key(sharer, r) for r in others]
        first += target_keys(sharer, conversation_ids)
        room = max(0, BATCH_GET_MAX_KEYS - len(first))
        found = self._batch_get(first + graph_keys[:room])
        record = found.get(item_key(record_key))
        video_item = found.get(item_key(keys.video(video_id)))
        video = video_from_item(video_item) if video_item else None
        if record is not None:
            return ShareSnapshot(video=video, record=record_from_item(record))
        if video is None or video.deleted:
            return ShareSnapshot(video=None)
        author = video.author_id
        viewers = [v for v in dict.fromkeys([sharer, *others]) if v != author]
        edge_keys: list[keys.Key] = []
        if video.visibility == "friends":
            for v in viewers:
                edge_keys += [keys.following(author, v), keys.following(v, author)]
        conversations = {}
        for r in others:
            pointer = found.get(item_key(direct_pair_key(sharer, r)))
            if pointer and pointer.get("conversation_id"):
                conversations[r] = str(pointer["conversation_id"])
        member_keys = [sender_member_key(cid, sharer) for cid in conversations.values()]
        peers = direct_peers(found, sharer, conversation_ids)
        found.update(self._batch_get(graph_keys[room:] + edge_keys + member_keys + block_keys(sharer, peers)))
        senders = {
            r: side
            for r, cid in conversations.items()
            if (side := SenderSide.from_item(cid, found.get(item_key(sender_member_key(cid, sharer)))))
        }
        states = pair_states_from(found, sharer, others)
        author_friends = {
            v: PairState(
                sender_follows=item_key(keys.following(author, v)) in found,
                recipient_follows=item_key(keys.following(v, author)) in found,
            ).friends
            for v in viewers
        }
        return ShareSnapshot(
            video=video,
            states=states,
            author_friends=author_friends,
            conversations=conversations,
            senders=senders,
            targets=decide_targets(found, sharer, conversation_ids),
        )

    # writes -----------------------------------------------------------------------------

    @staticmethod
    def _video_card(plan: SharePlan) -> dict[str, Any]:
        video_card: dict[str, Any] = {
            "video_id": plan.video.video_id,
            "title": plan.video.title,
            "author_id": plan.video.author_id,
        }
        if plan.video.thumbnail_key:
            video_card["thumbnail_key"] = plan.video.thumbnail_key
        return video_card

    def _conversation_actions(
        self, plan: SharePlan, d: ConversationDelivery, at_ms: int
    ) -> list[dict[str, Any]]:
        """Actions of one conversation target: the sharer's member item, the message, META."""
        message = message_record(
            conversation_id=d.conversation_id,
            message_id=d.message_id,
            sender_id=plan.sharer,
            client_message_id=f"share:{plan.share_id}",
            now_ms=at_ms,
            text=plan.note,
            video=self._video_card(plan),
        )
        return post_actions(self._table, plan.sharer, message)

    def _delivery_actions(self, plan: SharePlan, d: Delivery, at_ms: int) -> list[dict[str, Any]]:
        """Actions of one recipient: the direct conversation (if new), the message, the interaction."""
        video_card = self._video_card(plan)
        write = direct_share_write(
            table=self._table,
            sender_id=plan.sharer,
            recipient_id=d.recipient_id,
            request=d.status == "request",
            existing_conversation_id=None if d.new_conversation else d.conversation_id,
            conversation_id=d.conversation_id,
            message_id=d.message_id,
            video=video_card,
            text=plan.note,
            client_message_id=f"share:{plan.share_id}",
            now_ms=at_ms,
        )
        actions = list(write.actions)
        interaction = {
            **keys.interaction(plan.sharer, d.recipient_id),
            **keys.interaction_gsi(plan.sharer, d.recipient_id, plan.sent_at),
            "entity": "interaction",
            "user_id": plan.sharer,
            "other_id": d.recipient_id,
            "last_interaction_at": plan.sent_at,
        }
        actions.append(tx.put(self._table, interaction))
        return actions

    def _record_put(self, plan: SharePlan, at_ms: int, pending_actions: str | None) -> dict[str, Any]:
        """The share record (the Idempotency-Key record, carrying the share) as a Put."""
        action, _ = idempotency.record(
            self._table,
            keys.share_idempotency(plan.sharer, plan.video.video_id, plan.idem_key),
            plan.fingerprint,
            expires_s=at_ms // 1000 + IDEMPOTENCY_TTL_SECONDS,
            entity="share",
            share_id=plan.share_id,
            sharer_id=plan.sharer,
            video_id=plan.video.video_id,
            title=plan.video.title,
            author_id=plan.video.author_id,
            response=plan.response,
            recipient_ids=[d.recipient_id for d in plan.deliveries],
            conversation_ids=[d.conversation_id for d in plan.deliveries]
            + [d.conversation_id for d in plan.conversation_deliveries],
            state="pending" if pending_actions else "complete",
            pending_actions=pending_actions,
            created_at=plan.sent_at,
        )
        return action

    def _complete_action(self, sharer: str, video_id: str, idem_key: str) -> tx.Action:
        return tx.update(
            self._table,
            keys.share_idempotency(sharer, video_id, idem_key),
            "SET #state = :complete REMOVE pending_actions",
            condition="#state = :pending",
            complete="complete",
            pending="pending",
        )

    def commit(self, plan: SharePlan) -> None:
        """One TransactWriteItems when ≤ 100 actions, else two (the record stays ``pending`` with
        the second transaction's actions until it commits, so a retry can finish it)."""
        at_ms = ms_from_iso(plan.sent_at)
        groups = [self._delivery_actions(plan, d, at_ms) for d in plan.deliveries]
        groups += [self._conversation_actions(plan, d, at_ms) for d in plan.conversation_deliveries]
        sent_to = len(plan.deliveries) + len(plan.conversation_deliveries)
        video_update = tx.update(
            self._table,
            keys.video(plan.video.video_id),
            "ADD share_count :n",
            condition="attribute_exists(pk) AND deleted = :false",
            n=sent_to,
            false=False,
        )
        # The sharer's DM rate window: refused while full, like a DM; counts every message.
        rate_update = tx.update(
            self._table,
            keys.rate_window("dm_send", plan.sharer, plan.window),
            "ADD n :k SET #ttl = :ttl, entity = :entity",
            condition="attribute_not_exists(n) OR n < :limit",
            names={"#ttl": keys.TTL},
            k=sent_to,
            ttl=plan.window_expires_s,
            limit=plan.rate_limit,
            entity="rate_window",
        )
        first: list[dict[str, Any]] = []
        second: list[dict[str, Any]] = []
        budget = TRANSACT_MAX_ACTIONS - 3
        for group in groups:
            if not second and len(first) + len(group) <= budget:
                first += group
            else:
                second += group
        pending = json.dumps(second, separators=(",", ":")) if second else None
        record = self._record_put(plan, at_ms, pending)
        try:
            tx.transact(self._client, [record, video_update, rate_update, *first])
        except TransactionCancelled as cancelled:
            if cancelled.failed(_RECORD):
                old = cancelled.item(_RECORD)
                raise ShareRecordExistsError(record_from_item(old) if old else None) from cancelled
            if cancelled.failed(_VIDEO):
                raise VideoNotFoundError("Video not found.") from cancelled
            if cancelled.failed(_RATE):
                raise ShareRateLimitedError(
                    "You are sending messages too fast.", retry_after=plan.retry_after_s
                ) from cancelled
            raise StaleReadError("a conversation changed concurrently") from cancelled
        if second:
            self._finish(plan.sharer, plan.video.video_id, plan.idem_key, second)

    def _finish(self, sharer: str, video_id: str, idem_key: str, actions: list[dict[str, Any]]) -> None:
        try:
            tx.transact(self._client, [*actions, self._complete_action(sharer, video_id, idem_key)])
        except TransactionCancelled as cancelled:
            if cancelled.failed(len(actions)):
                return  # another request completed this share first
            logger.error("share second part could not commit", extra={"reasons": str(cancelled)})
            raise UnavailableError("The share could not be completed; retry.") from cancelled

    def resume(self, sharer: str, video_id: str, idem_key: str, record: ShareRecord) -> None:
        """Replay the stored second transaction (conditional on the record still pending)."""
        if record.pending_actions:
            self._finish(sharer, video_id, idem_key, json.loads(record.pending_actions))


def shares() -> DynamoShares:
    """The share store."""
    return DynamoShares(clients.dynamodb(), get_settings().table_name)


# --- suggestions ----------------------------------------------------------------------------


class DynamoSuggestionSource:
    """The caller's interactions (GSI1, newest first) and friend markers (their partition)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def recent_interactions(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        """One Query on GSI1 ``INTERACTIONS`` listing, newest first."""
        rows, _ = query_page(
            self._client,
            self._table,
            index=keys.GSI1,
            key_attribute=keys.GSI1PK,
            key_value=keys.interactions_pk(user_id),
            limit=limit,
        )
        return [(str(r["other_id"]), str(r["last_interaction_at"])) for r in rows]

    def friends(self, user_id: str) -> list[str]:
        """Query the caller's partition for friend markers (every page)."""
        pk, prefix = keys.user_pk(user_id), keys.friend_prefix()
        markers = query_all(
            self._client,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=values(pk=pk, prefix=prefix),
            ProjectionExpression="sk",
        )
        return [str(item["sk"])[len(prefix) :] for item in markers]


def suggestion_source() -> DynamoSuggestionSource:
    """The suggestions reader."""
    return DynamoSuggestionSource(clients.dynamodb(), get_settings().table_name)


# --- interactions from direct messages (projection) -----------------------------------------


class DynamoInteractions:
    """Records "last messaged" per pair from DM messages, for share suggestions."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def direct_partners(self, conversation_ids: Sequence[str]) -> dict[str, list[str]]:
        """Members of each DIRECT conversation (one BatchGetItem per 100 conversations)."""
        found = batch_get(self._client, self._table, [keys.conversation(cid) for cid in conversation_ids])
        return {
            str(item["conversation_id"]): [str(m) for m in item.get("member_ids", [])]
            for item in found.values()
            if item.get("kind") == "direct"
        }

    def touch(self, user_id: str, other: str, at_iso: str) -> None:
        """Move ``user_id → other``'s last interaction forward to ``at_iso`` (never backwards)."""
        item = {
            **keys.interaction(user_id, other),
            **keys.interaction_gsi(user_id, other, at_iso),
            "entity": "interaction",
            "user_id": user_id,
            "other_id": other,
            "last_interaction_at": at_iso,
        }
        # Refused when already as recent: a replayed or older change, nothing to do.
        tx.write_if(
            self._client,
            tx.put(
                self._table,
                item,
                condition="attribute_not_exists(pk) OR last_interaction_at < :at",
                at=at_iso,
            ),
        )


def interactions() -> DynamoInteractions:
    """The interactions projection store."""
    return DynamoInteractions(clients.dynamodb(), get_settings().table_name)
