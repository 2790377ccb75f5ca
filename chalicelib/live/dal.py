"""Data access of the live domain: the only live module that knows keys, boto3 and S3."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.core import clients, idempotency, keys, tx
from chalicelib.core.clock import ms_from_iso
from chalicelib.core.ddb import (
    ConditionFailed,
    TransactionCancelled,
    batch_get,
    call,
    deserialize,
    get_item,
    item_key,
    query_all,
    serialize,
    values,
)
from chalicelib.core.errors import UnavailableError
from chalicelib.core.idempotency import FINGERPRINT, IDEMPOTENCY_TTL_SECONDS, replay_or_reject
from chalicelib.core.settings import get_settings
from chalicelib.live.chat import message_item as _message_item
from chalicelib.live.chat import shard_for
from chalicelib.live.errors import (
    BannedError,
    NotHostError,
    RoomBusyError,
    SlowModeError,
    StreamEndedError,
    StreamNotFoundError,
)
from chalicelib.live.models import (
    DEFAULT_ROOM_CAP,
    DEFAULT_SLOW_MODE_SECONDS,
    PostOutcome,
    PostPlan,
    ShardPage,
    Stream,
)

# Per-container cache of stream META for the post path (banned words, slow mode, K, cap,
# host and moderators). Settings reach other containers within this many seconds; the
# "ended" status never relies on it (the post transaction checks the shard state).
CONFIG_TTL_SECONDS = 5.0
_CONFIG_CACHE_MAX = 1000
_config_cache: dict[tuple[str, str], tuple[float, Stream]] = {}

CHATTER_TTL_SECONDS = 24 * 3600
RATE_WINDOW_TTL_SECONDS = 120


def _stream_from_item(item: dict[str, Any]) -> Stream:
    return Stream(
        stream_id=item["stream_id"],
        host_id=item["host_id"],
        title=item["title"],
        status=item["status"],
        started_at=item["started_at"],
        shards=int(item.get("shards", 1)),
        slow_mode_seconds=int(item.get("slow_mode_seconds", DEFAULT_SLOW_MODE_SECONDS)),
        banned_words=tuple(item.get("banned_words", [])),
        room_cap=int(item.get("room_cap", DEFAULT_ROOM_CAP)),
        moderators=frozenset(item.get("moderators", set())),
        ended_at=item.get("ended_at"),
        earlier_shards=tuple(sorted(int(k) for k in item.get("earlier_shards", set()))),
    )


def stream_from_item(item: dict[str, Any]) -> Stream:
    """A stored META item as a Stream (for a caller that read META in its own Query)."""
    return _stream_from_item(item)


class DynamoStreams:
    """Stream META, shard states, moderators and bans in the single table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def _forget(self, stream_id: str) -> None:
        _config_cache.pop((self._table, stream_id), None)

    def create(self, stream: Stream) -> None:
        """META (``attribute_not_exists``) + K shard states in one TransactWriteItems."""
        meta = {
            **keys.stream(stream.stream_id),
            "entity": "stream",
            "stream_id": stream.stream_id,
            "host_id": stream.host_id,
            "title": stream.title,
            "status": stream.status,
            "started_at": stream.started_at,
            "shards": stream.shards,
            "slow_mode_seconds": stream.slow_mode_seconds,
            "banned_words": list(stream.banned_words),
            "room_cap": stream.room_cap,
            # The host's streams, for an account deletion (issue 20).
            **keys.gsi1(keys.hosted_streams(stream.host_id), stream.stream_id),
        }
        actions: list[dict[str, Any]] = [tx.put(self._table, meta, condition="attribute_not_exists(pk)")]
        actions += self._shard_state_puts(stream.stream_id, range(stream.shards))
        try:
            tx.transact(self._client, actions)
        except TransactionCancelled as err:
            # botocore retries a timed-out transaction; if the first attempt was applied, the
            # retry's condition fails on our own META: that is success, not an error.
            existing = self.get(stream.stream_id)
            if existing is not None and (existing.host_id, existing.title) == (stream.host_id, stream.title):
                return
            raise UnavailableError("The stream could not be created; retry.") from err

    def _shard_state_puts(self, stream_id: str, shards: range) -> list[dict[str, Any]]:
        states = (
            {
                **keys.chat_shard_state(stream_id, shard),
                "entity": "chat_shard_state",
                "stream_id": stream_id,
                "shard": shard,
                "status": "live",
            }
            for shard in shards
        )
        return [tx.put(self._table, state) for state in states]

    def _meta_guarded(self, stream: Stream, update: str, **vals: Any) -> dict[str, Any]:
        """The META Update of a resize or an end, applied only to the META it was computed from
        (still live, same host, same K): a concurrent end or resize cancels the transaction."""
        return tx.update(
            self._table,
            keys.stream(stream.stream_id),
            update,
            condition="#status = :live AND host_id = :host AND shards = :k",
            live="live",
            host=stream.host_id,
            k=stream.shards,
            **vals,
        )

    def _transact_until(
        self,
        stream: Stream,
        *,
        done: Callable[[Stream], bool],
        actions: Callable[[Stream], list[dict[str, Any]]],
        applied: Callable[[Stream], Stream],
    ) -> Stream:
        """Up to three attempts at a :meth:`_meta_guarded` transaction, until ``done``. A success
        returns ``applied(stream)`` (the new state is known: no read-back); a cancellation means
        an end or a resize won the race, so META is re-read and decides again."""
        current = stream
        for _ in range(3):
            if done(current):
                return current
            try:
                tx.transact(self._client, actions(current))
            except TransactionCancelled:
                pass  # ended or resized meanwhile: look again
            else:
                return applied(current)
            finally:
                self._forget(current.stream_id)
            fresh = self.get(current.stream_id)
            if fresh is None:
                raise StreamNotFoundError("No such stream.")
            current = fresh
        return current

    def raise_shards(self, stream: Stream, shards: int) -> Stream:
        """One TransactWriteItems: META ``shards`` K → K' (conditional on live, host and the K it
        was computed from; the old K joins ``earlier_shards``) + the K' - K new shard states.

        A concurrent end or resize cancels it; the fresh META then decides (retried twice).
        """
        return self._transact_until(
            stream,
            done=lambda current: not current.live or current.shards >= shards,
            actions=lambda current: self._resize_actions(current, shards),
            applied=lambda current: dataclasses.replace(
                current,
                shards=shards,
                earlier_shards=tuple(sorted({*current.earlier_shards, current.shards})),
            ),
        )

    def _resize_actions(self, stream: Stream, shards: int) -> list[dict[str, Any]]:
        meta = self._meta_guarded(
            stream, "SET shards = :new ADD earlier_shards :old", new=shards, old={stream.shards}
        )
        return [meta, *self._shard_state_puts(stream.stream_id, range(stream.shards, shards))]

    def hosted_by(self, host_id: str) -> list[str]:
        """Ids of the streams ``host_id`` started (GSI1, paged)."""
        return [
            str(item["stream_id"])
            for item in query_all(
                self._client,
                TableName=self._table,
                IndexName=keys.GSI1,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues=values(pk=keys.hosted_streams(host_id)),
                ProjectionExpression="stream_id",
            )
        ]

    def get(self, stream_id: str) -> Stream | None:
        """GetItem META (strongly consistent)."""
        item = get_item(self._client, self._table, keys.stream(stream_id))
        return _stream_from_item(item) if item else None

    def config(self, stream_id: str) -> Stream | None:
        """META from the container cache (≤ 5 s old), else one GetItem."""
        cache_key = (self._table, stream_id)
        hit = _config_cache.get(cache_key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        stream = self.get(stream_id)
        if stream is not None:
            if len(_config_cache) >= _CONFIG_CACHE_MAX:
                _config_cache.clear()
            _config_cache[cache_key] = (time.monotonic() + CONFIG_TTL_SECONDS, stream)
        return stream

    def end(self, stream: Stream, ended_at: str, system_message: dict[str, Any]) -> Stream:
        """One TransactWriteItems: META live→ended (host condition, and the K it closes), K shard
        states → ended, and the ``stream_ended`` message at shard 0. A concurrent end wins
        harmlessly; a concurrent resize makes it close the new K (retried twice)."""
        return self._transact_until(
            stream,
            done=lambda current: not current.live,
            actions=lambda current: self._end_actions(current, ended_at, system_message),
            applied=lambda current: dataclasses.replace(current, status="ended", ended_at=ended_at),
        )

    def _end_actions(
        self, stream: Stream, ended_at: str, system_message: dict[str, Any]
    ) -> list[dict[str, Any]]:
        actions = [
            self._meta_guarded(stream, "SET #status = :ended, ended_at = :at", ended="ended", at=ended_at)
        ]
        for shard in range(stream.shards):
            actions.append(
                tx.update(
                    self._table,
                    keys.chat_shard_state(stream.stream_id, shard),
                    "SET #status = :ended",
                    ended="ended",
                )
            )
        now_s = ms_from_iso(ended_at) // 1000  # the edge's clock, as the message's sent_at
        actions.append(
            tx.put(
                self._table,
                _message_item(stream.stream_id, 0, system_message, now_s),
                condition="attribute_not_exists(pk)",
            )
        )
        return actions

    def _host_update(self, stream_id: str, host_id: str, **kwargs: Any) -> dict[str, Any]:
        """UpdateItem on META conditioned on the caller being the host (404 / 403 otherwise)."""
        names = {"#host": "host_id", **kwargs.pop("ExpressionAttributeNames", {})}
        try:
            out = call(
                self._client.update_item,
                TableName=self._table,
                Key=serialize(keys.stream(stream_id)),
                ConditionExpression="#host = :caller",
                ExpressionAttributeNames=names,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ReturnValues="ALL_NEW",
                **kwargs,
            )
        except ConditionFailed as err:
            if err.item is None:
                raise StreamNotFoundError("No such stream.") from err
            raise NotHostError("Only the host can change this.") from err
        finally:
            self._forget(stream_id)
        return deserialize(out.get("Attributes")) or {}

    def update_settings(
        self,
        stream_id: str,
        host_id: str,
        *,
        slow_mode_seconds: int | None,
        banned_words: list[str] | None,
        room_cap: int | None,
    ) -> Stream:
        """One conditional UpdateItem on META."""
        sets: list[str] = []
        vals: dict[str, Any] = {"caller": host_id}
        for name, value in (
            ("slow_mode_seconds", slow_mode_seconds),
            ("banned_words", banned_words),
            ("room_cap", room_cap),
        ):
            if value is not None:
                sets.append(f"{name} = :{name}")
                vals[name] = value
        item = self._host_update(
            stream_id,
            host_id,
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeValues=values(**vals),
        )
        return _stream_from_item(item)

    def set_moderator(self, stream_id: str, host_id: str, user_id: str, *, on: bool) -> None:
        """One conditional UpdateItem: ADD/DELETE the user in META's ``moderators`` set."""
        verb = "ADD" if on else "DELETE"
        self._host_update(
            stream_id,
            host_id,
            UpdateExpression=f"{verb} moderators :who",
            ExpressionAttributeValues=values(caller=host_id, who={user_id}),
        )

    def set_ban(self, stream_id: str, user_id: str, *, by: str, at: str, on: bool) -> None:
        """PutItem / DeleteItem of the ban item (both idempotent)."""
        key = keys.stream_ban(stream_id, user_id)
        if on:
            item = {
                **key,
                "entity": "stream_ban",
                "stream_id": stream_id,
                "user_id": user_id,
                "banned_by": by,
                "banned_at": at,
            }
            tx.write(self._client, tx.put(self._table, item))
        else:
            tx.write(self._client, tx.delete(self._table, key))


class DynamoChat:
    """Chat messages over K shard partitions."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def post(self, plan: PostPlan) -> PostOutcome:
        """ONE TransactWriteItems: shard state live, ban absent, client_message_id unused,
        slow mode (skipped for host/moderators), this second's shard counter < cap ÷ K, and
        the message. A cancellation names the failed guard (ALL_OLD returns its item)."""
        now_s = plan.now_ms // 1000
        stream_id, sender = plan.stream_id, plan.sender_id
        ttl_guard = now_s + IDEMPOTENCY_TTL_SECONDS
        actions: dict[str, dict[str, Any]] = {
            "state": tx.check(
                self._table,
                keys.chat_shard_state(stream_id, plan.shard),
                "#status = :live",
                return_old_on_failure=True,
                live="live",
            ),
            "ban": tx.check(
                self._table,
                keys.stream_ban(stream_id, sender),
                "attribute_not_exists(pk)",
                return_old_on_failure=True,
            ),
            "guard": idempotency.record(  # the client_message_id guard
                self._table,
                keys.chat_client_message(stream_id, sender, plan.client_message_id),
                plan.fingerprint,
                expires_s=ttl_guard,
                entity="chat_client_message",
                stream_id=stream_id,
                sender_id=sender,
                message=plan.message,
            )[0],
        }
        if plan.slow_mode_ms > 0:
            actions["chatter"] = tx.update(
                self._table,
                keys.chatter(stream_id, sender),
                "SET last_sent_ms = :now, entity = :e, stream_id = :s, #ttl = :ttl",
                condition="attribute_not_exists(last_sent_ms) OR last_sent_ms <= :threshold",
                names={"#ttl": keys.TTL},
                return_old_on_failure=True,
                now=plan.now_ms,
                e="chat_chatter",
                s=stream_id,
                ttl=now_s + CHATTER_TTL_SECONDS,
                threshold=plan.now_ms - plan.slow_mode_ms,
            )
        actions["rate"] = tx.update(
            self._table,
            keys.chat_rate_window(stream_id, plan.shard, now_s),
            "ADD n :one SET entity = :e, stream_id = :s, #ttl = :ttl",
            condition="attribute_not_exists(n) OR n < :cap",
            names={"#ttl": keys.TTL},
            return_old_on_failure=True,
            one=1,
            e="chat_rate_window",
            s=stream_id,
            ttl=now_s + RATE_WINDOW_TTL_SECONDS,
            cap=plan.per_shard_cap,
        )
        actions["message"] = tx.put(
            self._table,
            _message_item(stream_id, plan.shard, plan.message, now_s),
            condition="attribute_not_exists(pk)",
            return_old_on_failure=True,
        )
        names = list(actions)
        try:
            # Every guard returns its item when it fails (ALL_OLD): the answer is built from it.
            tx.transact(self._client, [actions[name] for name in names])
        except TransactionCancelled as cancelled:
            failed = {name: cancelled.item(i) for i, name in enumerate(names) if cancelled.failed(i)}
            return self._explain(plan, failed)
        return PostOutcome(message=plan.message, created=True)

    @staticmethod
    def _explain(plan: PostPlan, failed: dict[str, dict[str, Any] | None]) -> PostOutcome:
        """Turn the failed guards into the answer, most specific first: a replay returns the
        original message; then ended, banned, slow mode, room cap."""
        if "guard" in failed:
            original = failed["guard"] or {}
            message = replay_or_reject(
                str(original.get(FINGERPRINT, "")), plan.fingerprint, original.get("message")
            )
            return PostOutcome(message=dict(message or {}), created=False)
        if "state" in failed:
            if failed["state"] is None:
                raise StreamNotFoundError("No such stream.")
            raise StreamEndedError("The stream has ended; its chat is read-only.")
        if "ban" in failed:
            raise BannedError("You are banned from this stream's chat.")
        if "chatter" in failed:
            last = int((failed["chatter"] or {}).get("last_sent_ms", plan.now_ms))
            wait_ms = last + plan.slow_mode_ms - plan.now_ms
            raise SlowModeError(
                "Slow mode is on; wait before sending again.", retry_after=-(-wait_ms // 1000)
            )
        if "rate" in failed:
            raise RoomBusyError("The room is at its message cap; retry in a moment.", retry_after=1)
        raise UnavailableError("The message could not be stored; retry.")

    def find(
        self, stream_id: str, shard_counts: Sequence[int], message_id: str
    ) -> tuple[int, dict[str, Any]] | None:
        """One BatchGetItem: the hashed shard of a user message under every K the room has had,
        and shard 0 where system messages (stream_ended, product_pinned) live."""
        candidates = {
            shard: keys.chat_message(stream_id, shard, message_id)
            for shard in sorted({0, *(shard_for(message_id, k) for k in shard_counts)})
        }
        found = batch_get(self._client, self._table, candidates.values())
        for shard, key in candidates.items():
            item = found.get(item_key(key))
            if item is not None and item.get("entity") == "chat_message":
                return shard, item
        return None

    def mark_deleted(self, stream_id: str, shard: int, message_id: str, *, by: str, at: str) -> None:
        """UpdateItem ``deleted = true`` (condition: the message exists)."""
        # Refused = gone already (TTL): nothing to hide.
        tx.write_if(
            self._client,
            tx.update(
                self._table,
                keys.chat_message(stream_id, shard, message_id),
                "SET deleted = :t, deleted_by = :by, deleted_at = :at",
                condition="attribute_exists(pk)",
                t=True,
                by=by,
                at=at,
            ),
        )

    def messages_of(self, user_id: str) -> list[dict[str, Any]]:
        """Every live-chat message of ``user_id`` not yet erased (GSI1, paged)."""
        return list(
            query_all(
                self._client,
                TableName=self._table,
                IndexName=keys.GSI1,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues=values(pk=keys.user_chat_messages(user_id)),
            )
        )

    def erase_messages(self, messages: Sequence[dict[str, Any]], *, at: str) -> None:
        """Remove messages from their rooms for good (account deletion): ``deleted``, text and
        the user index removed, 100 per TransactWriteItems; the snapshot projection drops them."""
        for start in range(0, len(messages), 100):
            actions = [
                tx.update(
                    self._table,
                    {"pk": m["pk"], "sk": m["sk"]},
                    "SET deleted = :t, deleted_by = :by, deleted_at = :at REMOVE #text, gsi1pk, gsi1sk",
                    t=True,
                    by="account_deletion",
                    at=at,
                )
                for m in messages[start : start + 100]
            ]
            tx.transact(self._client, actions)

    def recent(self, stream_id: str, shards: int, per_shard: int) -> list[ShardPage]:
        """K Queries (one per shard, newest first, ``Limit`` = per_shard)."""
        pages = []
        for shard in range(shards):
            out = call(
                self._client.query,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
                ExpressionAttributeValues=values(
                    pk=keys.chat_shard_pk(stream_id, shard), msg=keys.CHAT_MESSAGE_PREFIX
                ),
                ScanIndexForward=False,
                Limit=per_shard,
                ConsistentRead=True,
            )
            items = [deserialize(raw) or {} for raw in out.get("Items", [])]
            pages.append(ShardPage(shard=shard, items=items, truncated=bool(out.get("LastEvaluatedKey"))))
        return pages


class DynamoSnapshotMarkers:
    """The per-room snapshot marker item (coalesces snapshot writes to one per second)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def try_acquire(self, stream_id: str, now_ms: int, min_interval_ms: int) -> bool:
        """Conditional UpdateItem ``snapshot_at <= now - interval``; clears ``pending_ms``."""
        return tx.write_if(
            self._client,
            tx.update(
                self._table,
                keys.chat_snapshot_marker(stream_id),
                "SET snapshot_at = :now, entity = :e, stream_id = :s REMOVE pending_ms",
                condition="attribute_not_exists(snapshot_at) OR snapshot_at <= :threshold",
                now=now_ms,
                e="chat_snapshot",
                s=stream_id,
                threshold=now_ms - min_interval_ms,
            ),
        )

    def mark_pending(self, stream_id: str, now_ms: int) -> None:
        """UpdateItem ``pending_ms = now``: its stream record brings the room back to the
        projector, which writes the snapshot once the second has passed."""
        tx.write(
            self._client,
            tx.update(
                self._table,
                keys.chat_snapshot_marker(stream_id),
                "SET pending_ms = :now, entity = :e, stream_id = :s",
                now=now_ms,
                e="chat_snapshot",
                s=stream_id,
            ),
        )


def snapshot_object_key(stream_id: str) -> str:
    """Where a room's snapshot lives in the media bucket (and under the CDN)."""
    return f"live/{stream_id}/chat.json"


class S3Snapshots:
    """Snapshots as S3 objects (served by a CDN at ``snapshot_base_url``)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def read(self, stream_id: str) -> dict[str, Any] | None:
        """One GetObject (None when the object does not exist yet)."""
        from botocore.exceptions import ClientError

        try:
            out = self._client.get_object(Bucket=self._bucket, Key=snapshot_object_key(stream_id))
            data = json.loads(out["Body"].read())
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise UnavailableError("The chat is unavailable; retry.") from err
        return data if isinstance(data, dict) else None

    def write(self, stream_id: str, snapshot: dict[str, Any]) -> None:
        """One PutObject; CDN edges may keep it one second."""
        self._client.put_object(
            Bucket=self._bucket,
            Key=snapshot_object_key(stream_id),
            Body=json.dumps(snapshot, separators=(",", ":")).encode(),
            ContentType="application/json",
            CacheControl="public, max-age=1",
        )


def snapshot_url(stream_id: str) -> str:
    """The public (CDN) URL of a room's snapshot."""
    return f"{get_settings().snapshot_base_url}/{snapshot_object_key(stream_id)}"


def streams() -> DynamoStreams:
    """Stream repository (cheap: the client underneath is cached per container)."""
    return DynamoStreams(clients.dynamodb(), get_settings().table_name)


def chat() -> DynamoChat:
    """Chat repository."""
    return DynamoChat(clients.dynamodb(), get_settings().table_name)


def markers() -> DynamoSnapshotMarkers:
    """Snapshot marker repository."""
    return DynamoSnapshotMarkers(clients.dynamodb(), get_settings().table_name)


def snapshots() -> S3Snapshots:
    """Snapshot store in the media bucket."""
    return S3Snapshots(clients.s3(), get_settings().media_bucket)
