"""Storage of the account domain, and the erasure/export adapters over the owning domains.

The erasure runs the other domains' own dal/logic functions (social unfollow/unblock/phone,
notify device removal, realtime connections, dm tombstones and membership, live end/erase,
checkout unpin/release/unlist/pseudonymise); only what is left in ``USER#u`` afterwards is
deleted here, in BatchWriteItem calls of 25.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from chalicelib.account.ports import DONE, ERASING, PENDING, READY, Deletion, Export, Item
from chalicelib.core import clients, keys, tx
from chalicelib.core.clock import iso_from_ms
from chalicelib.core.ddb import (
    ConditionFailed,
    TransactionCancelled,
    batch_delete,
    get_item,
    query_all,
    values,
)
from chalicelib.core.errors import ConflictError
from chalicelib.core.observability import logger
from chalicelib.core.settings import get_settings

ATTACHMENT_PREFIX = "attachments"
EXPORT_PREFIX = "exports"
# Idempotency records and rate windows hold at most 24 h of content and expire through TTL.


def _deletion_from(item: Item) -> Deletion:
    return Deletion(
        user_id=str(item["user_id"]),
        deletion_id=str(item["deletion_id"]),
        status=str(item.get("status", PENDING)),
        requested_at_ms=int(item["requested_at_ms"]),
        done_steps=frozenset(item.get("done_steps") or ()),
        swept=bool(item.get("swept")),
    )


def _export_from(item: Item) -> Export:
    return Export(
        user_id=str(item["user_id"]),
        export_id=str(item["export_id"]),
        status=str(item.get("status", PENDING)),
        requested_at_ms=int(item["requested_at_ms"]),
        archive_key=item.get("archive_key"),
        ready_at_ms=int(item["ready_at_ms"]) if item.get("ready_at_ms") is not None else None,
    )


class DynamoAccountStore:
    """``ports.AccountStore`` on the single table (``ACCOUNT#u`` partition)."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def create_deletion(self, deletion: Deletion) -> Deletion:
        """PutItem ``attribute_not_exists`` (ALL_OLD): a repeat returns the stored marker."""
        item = {
            **keys.account_deletion(deletion.user_id),
            "entity": "account_deletion",
            "user_id": deletion.user_id,
            "deletion_id": deletion.deletion_id,
            "status": deletion.status,
            "requested_at_ms": deletion.requested_at_ms,
            "requested_at": iso_from_ms(deletion.requested_at_ms),
        }
        try:
            tx.write(
                self._client,
                tx.put(self._table, item, condition="attribute_not_exists(pk)", return_old_on_failure=True),
            )
        except ConditionFailed as err:
            if err.item is None:
                raise ConflictError("The deletion could not be recorded; retry.") from err
            return _deletion_from(err.item)
        return deletion

    def deletion(self, user_id: str) -> Deletion | None:
        """GetItem (consistent)."""
        item = get_item(self._client, self._table, keys.account_deletion(user_id))
        return _deletion_from(item) if item else None

    def mark_step(self, user_id: str, step: str) -> None:
        """UpdateItem ``ADD done_steps``."""
        tx.write(
            self._client,
            tx.update(
                self._table,
                keys.account_deletion(user_id),
                "SET #status = :erasing ADD done_steps :s",
                erasing=ERASING,
                s={step},
            ),
        )

    def finish_deletion(self, user_id: str, now_ms: int) -> None:
        """UpdateItem status → done."""
        tx.write(
            self._client,
            tx.update(
                self._table,
                keys.account_deletion(user_id),
                "SET #status = :done, erased_at = :at",
                done=DONE,
                at=iso_from_ms(now_ms),
            ),
        )

    def mark_swept(self, user_id: str, now_ms: int) -> None:
        """UpdateItem ``swept = true``."""
        tx.write(
            self._client,
            tx.update(
                self._table,
                keys.account_deletion(user_id),
                "SET swept = :t, swept_at = :at",
                t=True,
                at=iso_from_ms(now_ms),
            ),
        )

    def create_export(self, export: Export, not_before_ms: int) -> int | None:
        """One TransactWriteItems: the quota item (only if the last request is older than
        ``not_before_ms``) and the export item."""
        try:
            tx.transact(
                self._client,
                [
                    tx.put(
                        self._table,
                        {
                            **keys.export_quota(export.user_id),
                            "entity": "export_quota",
                            "requested_at_ms": export.requested_at_ms,
                        },
                        condition="attribute_not_exists(pk) OR requested_at_ms < :nb",
                        return_old_on_failure=True,
                        nb=not_before_ms,
                    ),
                    tx.put(
                        self._table,
                        {
                            **keys.account_export(export.user_id, export.export_id),
                            "entity": "account_export",
                            "user_id": export.user_id,
                            "export_id": export.export_id,
                            "status": PENDING,
                            "requested_at_ms": export.requested_at_ms,
                        },
                        condition="attribute_not_exists(pk)",
                    ),
                ],
            )
        except TransactionCancelled as err:
            previous = err.item(0) if err.failed(0) else None
            if previous is None:
                raise ConflictError("The export could not be recorded; retry.") from err
            return int(previous["requested_at_ms"])
        return None

    def export(self, user_id: str, export_id: str) -> Export | None:
        """GetItem (consistent)."""
        item = get_item(self._client, self._table, keys.account_export(user_id, export_id))
        return _export_from(item) if item else None

    def export_ready(self, user_id: str, export_id: str, archive_key: str, now_ms: int) -> None:
        """UpdateItem status → ready (the outbox turns it into ``account.export_ready``)."""
        tx.write(
            self._client,
            tx.update(
                self._table,
                keys.account_export(user_id, export_id),
                "SET #status = :ready, archive_key = :k, ready_at_ms = :at",
                ready=READY,
                k=archive_key,
                at=now_ms,
            ),
        )


def _partition(client: Any, table: str, user_id: str) -> list[Item]:
    """Every item of ``USER#u`` (paged Query)."""
    return list(
        query_all(
            client,
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=values(pk=keys.user_pk(user_id)),
            ConsistentRead=True,
        )
    )


def _others(items: Sequence[Item], prefix: str) -> list[str]:
    return [str(i["sk"])[len(prefix) :] for i in items if str(i["sk"]).startswith(prefix)]


class DomainErasure:
    """``ports.Erasure`` over the owning domains' dal and logic functions."""

    def __init__(self, client: Any, table: str, s3: Any, bucket: str) -> None:
        self._client = client
        self._table = table
        self._s3 = s3
        self._bucket = bucket

    # --- social ---------------------------------------------------------------------------

    def graph_edges(self, user_id: str) -> dict[str, list[str]]:
        """From one paged Query of the user's partition."""
        items = _partition(self._client, self._table, user_id)
        return {
            "following": _others(items, keys.following(user_id, "")[keys.SK]),
            "followers": _others(items, keys.follower(user_id, "")[keys.SK]),
            "blocks": _others(items, keys.block(user_id, "")[keys.SK]),
            "blocked_by": _others(items, keys.BLOCKED_BY_PREFIX),
        }

    def unfollow(self, actor: str, target: str) -> None:
        """``chalicelib.social.logic.unfollow``."""
        from chalicelib.social import graph as social_repos
        from chalicelib.social import logic as social

        social.unfollow(social_repos.graph(), actor, target)

    def unblock(self, actor: str, target: str) -> None:
        """``chalicelib.social.logic.unblock``."""
        from chalicelib.social import graph as social_repos
        from chalicelib.social import logic as social

        social.unblock(social_repos.graph(), actor, target)

    def clear_phone(self, user_id: str) -> None:
        """``chalicelib.social.contacts.clear_phone``, then the contact matches other users
        remembered of this one (GSI1 ``USER#u#MATCHED_BY``, BatchWriteItem deletes)."""
        from chalicelib.social import contacts
        from chalicelib.social import graph as social_repos

        contacts.clear_phone(social_repos.graph(), user_id)
        matches = query_all(
            self._client,
            TableName=self._table,
            IndexName=keys.GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues=values(pk=keys.matched_by(user_id)),
            ProjectionExpression="pk, sk",
        )
        batch_delete(self._client, self._table, list(matches))

    # --- notify / realtime ----------------------------------------------------------------

    def remove_devices(self, user_id: str) -> None:
        """Endpoints first (a crash after that leaves registrations to retry, never orphans),
        then ``chalicelib.notify.devices.delete_device`` per device."""
        from chalicelib.notify import devices as notify
        from chalicelib.notify import repositories as notify_repos

        store, endpoints = notify_repos.device_store(), notify_repos.endpoint_registry()
        current = store.load(user_id)
        for device in current.devices:
            endpoints.delete(device.endpoint_arn)
        for device in current.devices:
            with contextlib.suppress(notify.DeviceNotFoundError):
                notify.delete_device(store, endpoints, user_id, device.device_id)

    def close_connections(self, user_id: str) -> None:
        """``DeleteConnection`` + the realtime store's ``remove`` per open socket."""
        from chalicelib.realtime import repositories as realtime_repos

        store, sender = realtime_repos.connection_store(), realtime_repos.frame_sender()
        for connection in store.connections_of([user_id], 0):
            try:
                sender.close(connection)
            except Exception:  # the socket is useless without its item; TTL ends it anyway
                logger.warning("could not close a connection", extra={"connection": connection.connection_id})
            store.remove(connection)

    # --- dm -------------------------------------------------------------------------------

    def conversations_of(self, user_id: str) -> list[str]:
        """``chalicelib.dm.dal.DynamoDmStore.conversations_of``, with the groups they left (their
        messages there are tombstoned too; leaving one again is a no-op)."""
        from chalicelib.dm import repositories as dm_repos

        return dm_repos.store().conversations_of(user_id, former=True)

    def tombstone_messages(self, conversation_id: str, user_id: str, now_ms: int) -> int:
        """dm ``messages_by`` + ``unsend_many`` (100 per transaction)."""
        from chalicelib.dm import repositories as dm_repos

        store = dm_repos.store()
        ids = [str(m["message_id"]) for m in store.messages_by(conversation_id, user_id)]
        store.unsend_many(conversation_id, user_id, ids, now_ms)
        store.forget_client_message_ids(conversation_id, user_id)
        return len(ids)

    def leave_conversation(self, conversation_id: str, user_id: str) -> None:
        """A group: ``remove_member`` (retried on a concurrent member change); a direct one:
        ``mark_member_deleted``."""
        from chalicelib.dm import repositories as dm_repos
        from chalicelib.dm.errors import ConversationNotFoundError
        from chalicelib.dm.records import DIRECT

        store = dm_repos.store()
        for _ in range(5):
            state = store.load(conversation_id)
            if state is None or user_id not in state.members:
                return
            if state.kind == DIRECT:
                store.mark_member_deleted(conversation_id, user_id)
                return
            try:
                store.remove_member(conversation_id, user_id, list(state.meta.get("member_ids") or []))
                return
            except ConversationNotFoundError:
                return
            except ConflictError:
                continue
        raise ConflictError("The conversation kept changing; retry.")

    def delete_attachments(self, user_id: str) -> int:
        """ListObjectVersions + DeleteObjects (1,000 per call): every version and delete
        marker under ``attachments/<user>/`` and ``exports/<user>/`` (the bucket is versioned);
        then the user's export records."""
        deleted = self._delete_prefix(f"{ATTACHMENT_PREFIX}/{user_id}/")
        deleted += self._delete_prefix(f"{EXPORT_PREFIX}/{user_id}/")
        exports = list(
            query_all(
                self._client,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :e)",
                ExpressionAttributeValues=values(pk=keys.account_pk(user_id), e=keys.EXPORT_PREFIX),
                ProjectionExpression="pk, sk",
            )
        )
        batch_delete(self._client, self._table, [*exports, keys.export_quota(user_id)])
        return deleted

    def _delete_prefix(self, prefix: str) -> int:
        deleted = 0
        while True:
            out = self._s3.list_object_versions(Bucket=self._bucket, Prefix=prefix, MaxKeys=1000)
            objects = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*out.get("Versions", []), *out.get("DeleteMarkers", [])]
            ]
            if not objects:
                return deleted
            self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True})
            deleted += len(objects)

    # --- live / checkout ------------------------------------------------------------------

    def erase_live_chat(self, user_id: str, now_ms: int) -> int:
        """live ``messages_of`` + ``erase_messages`` (100 per transaction)."""
        from chalicelib.live import repositories as live_repos

        chat = live_repos.chat()
        messages = chat.messages_of(user_id)
        chat.erase_messages(messages, at=iso_from_ms(now_ms))
        return len(messages)

    def end_hosted_streams(self, user_id: str, now_ms: int) -> None:
        """Per hosted stream: live ``end_stream`` (the end is a no-op on an ended stream), which
        closes the stream's sales through checkout's ``close_stream_sales`` (every active pin
        unpinned, stock back to the product; idempotent, so the sweep repeats it harmlessly)."""
        from chalicelib.checkout import catalog
        from chalicelib.checkout import repositories as checkout_repos
        from chalicelib.core.ids import new_ulid
        from chalicelib.live import repositories as live_repos
        from chalicelib.live import streams as live

        streams, repo = live_repos.streams(), checkout_repos.repository()

        def close_sales(stream_id: str, at_ms: int, /) -> None:
            catalog.close_stream_sales(repo, stream_id, at_ms)

        for stream_id in streams.hosted_by(user_id):
            live.end_stream(
                streams,
                close_sales,
                stream_id=stream_id,
                caller=user_id,
                message_id=new_ulid(now_ms),
                now_ms=now_ms,
            )

    def unlist_products(self, user_id: str, now_ms: int) -> None:
        """checkout ``products_of`` + ``unlist_product``."""
        from chalicelib.checkout import repositories as checkout_repos

        repo = checkout_repos.repository()
        for product_id in repo.products_of(user_id):
            repo.unlist_product(product_id, now_ms)

    def settle_orders(self, user_id: str, pseudonym: str, now_ms: int) -> None:
        """Orders as buyer (GSI1) and as seller (checkout ``order_ids_of_seller``): pending →
        checkout ``release_order`` (cancelled, stock back); any other → pseudonymised; then
        checkout ``forget_sales`` deletes the seller's pointers to them (a crash before that
        re-reads them, and pseudonymising again is a no-op)."""
        from chalicelib.checkout import orders as checkout
        from chalicelib.checkout import repositories as checkout_repos
        from chalicelib.checkout.models import CANCELLED, PENDING
        from chalicelib.checkout.payments import provider_from_settings

        repo, provider = checkout_repos.repository(), provider_from_settings(get_settings())
        sold = repo.order_ids_of_seller(user_id)
        roles = [("buyer", oid) for oid in repo.order_ids_of_buyer(user_id)]
        roles += [("seller", oid) for oid in sold]
        per_buyer_counters = []
        for role, order_id in roles:
            order = repo.get_order(order_id)
            if order is None:
                continue
            if role == "buyer":
                per_buyer_counters.append(keys.pin_buyer(order.stream_id, order.product_id, user_id))
            if order.status == PENDING:
                checkout.release_order(repo, order, CANCELLED, now_ms)
                # As the buyer's cancel does: the provider's intent can no longer be confirmed.
                checkout.abandon_intent(provider, order.payment.payment_intent_id)
            # Kept for bookkeeping (paid, refunded, and the cancelled record): no personal id.
            repo.pseudonymise_order(order_id, role, user_id, pseudonym)
        # The buyer's per-pin purchase counters name the user (their orders are settled now).
        batch_delete(self._client, self._table, per_buyer_counters)
        repo.forget_sales(user_id, sold)

    # --- the rest -------------------------------------------------------------------------

    def erase_partition(self, user_id: str) -> int:
        """BatchWriteItem deletes of everything left in ``USER#u``."""
        items = _partition(self._client, self._table, user_id)
        # The other side of each interaction (the other user's share suggestions name this one).
        mirrors = [
            keys.interaction(other, user_id)
            for other in _others(items, keys.interaction(user_id, "")[keys.SK])
        ]
        batch_delete(self._client, self._table, [*items, *mirrors])
        return len(items)


def store() -> DynamoAccountStore:
    """The account store on the configured table."""
    return DynamoAccountStore(clients.dynamodb(), get_settings().table_name)


def erasure() -> DomainErasure:
    """The erasure adapters on the configured table and bucket."""
    settings = get_settings()
    return DomainErasure(clients.dynamodb(), settings.table_name, clients.s3(), settings.media_bucket)


# --- export -------------------------------------------------------------------------------


class DynamoExportReader:
    """``ports.ExportReader``: the user's data, read through the owning domains' keys."""

    def __init__(self, client: Any, table: str, s3: Any, bucket: str) -> None:
        self._client = client
        self._table = table
        self._s3 = s3
        self._bucket = bucket

    def collect(self, user_id: str) -> dict[str, Any]:
        """profile, graph, conversations (messages the user can see), orders, devices (no
        tokens), contact matches (ids only), reports filed."""
        from chalicelib.dm import repositories as dm_repos
        from chalicelib.dm.records import message_view

        items = _partition(self._client, self._table, user_id)
        by_sk = {str(i["sk"]): i for i in items}
        profile = by_sk.get("PROFILE", {})
        counters = [i for i in items if str(i["sk"]).startswith("COUNTERS#")]
        devices = by_sk.get("DEVICES", {}).get("devices") or {}
        dm = dm_repos.store()
        conversations = []
        for cid in dm.conversations_of(user_id):
            state = dm.load(cid)
            if state is None or user_id not in state.members:
                continue
            messages = list(
                query_all(
                    self._client,
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
                    ExpressionAttributeValues=values(pk=keys.conversation_pk(cid), m=keys.MESSAGE_PREFIX),
                )
            )
            conversations.append(
                {
                    "conversation_id": cid,
                    "kind": state.kind,
                    "title": state.meta.get("title"),
                    "member_ids": sorted(state.members),
                    "messages": [message_view(m) for m in messages],
                }
            )
        orders = []
        for oid in self._order_ids(user_id):
            order = get_item(self._client, self._table, keys.order(oid))
            if order:
                orders.append(
                    {k: v for k, v in order.items() if k not in ("payment",) and not k.startswith("gsi")}
                )
        return {
            "profile": {
                "user_id": user_id,
                "dm_policy": profile.get("dm_policy", "friends"),
                "push_previews": profile.get("push_previews", True),
                "followers_count": sum(int(c.get("followers_count", 0)) for c in counters),
                "following_count": sum(int(c.get("following_count", 0)) for c in counters),
                "friends_count": sum(int(c.get("friends_count", 0)) for c in counters),
            },
            "following": _others(items, keys.following(user_id, "")[keys.SK]),
            "followers": _others(items, keys.follower(user_id, "")[keys.SK]),
            "blocks": _others(items, keys.block(user_id, "")[keys.SK]),
            "conversations": conversations,
            "orders": orders,
            "devices": [
                {"device_id": did, "platform": d.get("platform"), "created_at": d.get("created_at")}
                for did, d in sorted(devices.items())
            ],
            "contact_matches": _others(items, keys.CONTACT_PREFIX),
            "reports": self._reports(user_id),
        }

    def _order_ids(self, user_id: str) -> list[str]:
        from chalicelib.checkout import repositories as checkout_repos

        buyer = [
            str(i["order_id"])
            for i in query_all(
                self._client,
                TableName=self._table,
                IndexName=keys.GSI1,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues=values(pk=keys.buyer_orders_pk(user_id)),
                ProjectionExpression="order_id",
            )
        ]
        return list(dict.fromkeys([*buyer, *checkout_repos.repository().order_ids_of_seller(user_id)]))

    def _reports(self, user_id: str) -> list[Item]:
        """Reports the user filed (GSI1 ``USER#u#REPORTS`` when reports are indexed; none yet)."""
        rows = query_all(
            self._client,
            TableName=self._table,
            IndexName=keys.GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues=values(pk=keys.listing(user_id, "REPORTS")),
        )
        return [
            {k: v for k, v in r.items() if not k.startswith("gsi") and k not in ("pk", "sk")} for r in rows
        ]

    def attachments(self, user_id: str) -> list[tuple[str, bytes]]:
        """Current versions under ``attachments/<user>/`` (ListObjectsV2 + GetObject each)."""
        prefix = f"{ATTACHMENT_PREFIX}/{user_id}/"
        found: list[tuple[str, bytes]] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                body = self._s3.get_object(Bucket=self._bucket, Key=obj["Key"])["Body"].read()
                found.append((obj["Key"][len(prefix) :], body))
        return found


class S3Archives:
    """``ports.ArchiveStore`` in the media bucket (its default KMS encryption applies)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put(self, key: str, body: bytes) -> None:
        """PutObject."""
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/zip")

    def url(self, key: str, expires_s: int) -> str:
        """Presigned GET (local signing, no call)."""
        return str(
            self._s3.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_s
            )
        )


def export_reader() -> DynamoExportReader:
    """The export reader on the configured table and bucket."""
    settings = get_settings()
    return DynamoExportReader(clients.dynamodb(), settings.table_name, clients.s3(), settings.media_bucket)


def archives() -> S3Archives:
    """Archives in the media bucket."""
    return S3Archives(clients.s3(), get_settings().media_bucket)
