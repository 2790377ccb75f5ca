"""Data access of the notify domain: the only notify module that knows keys and boto3.

DynamoDB: device sets, token claims, push markers; reads of DM members and profiles for the
push path (batched). SNS: platform endpoints, the events topic (outbox) and endpoint pushes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.core import clients, keys, tx
from chalicelib.core.ddb import (
    Item,
    TransactionCancelled,
    batch_get,
    get_item,
    item_key,
)
from chalicelib.core.domain_events import DomainEvent
from chalicelib.core.errors import UnavailableError
from chalicelib.core.observability import logger, record_event
from chalicelib.core.settings import get_settings
from chalicelib.dm.members import member_key, push_settings
from chalicelib.notify.devices import (
    Device,
    DeviceSet,
    DeviceSetConflictError,
    PushTokenRejectedError,
    Registration,
    TokenClaim,
)
from chalicelib.notify.publishing import (
    ClaimCheck,
    EntryFailure,
    Envelope,
    PublishError,
    parked_attributes,
    publish_events,
)
from chalicelib.notify.push import EndpointGoneError, PushDeliveryError, PushServices, RecipientContext
from chalicelib.social.graph import graph

PUSH_MARKER_TTL_SECONDS = 2 * 24 * 3600
# SNS error codes meaning "this endpoint will never deliver again".
DEAD_ENDPOINT_CODES = {"EndpointDisabled", "NotFound"}
SNS_RETRYABLE_CODES = {"Throttling", "ThrottledException", "InternalError", "KMSThrottling"}

_CLAIM_UNCHANGED = "attribute_not_exists(pk) OR (user_id = :claim_user AND device_id = :claim_device)"


# --- DynamoDB helpers -------------------------------------------------------------------------


def _device_from_entry(device_id: str, entry: dict[str, Any]) -> Device:
    return Device(
        device_id=device_id,
        platform=str(entry.get("platform", "")),
        endpoint_arn=str(entry.get("endpoint_arn", "")),
        token_hash=str(entry.get("token_hash", "")),
        created_at=str(entry.get("created_at", "")),
    )


def _entry(device: Device) -> dict[str, str]:
    return {
        "platform": device.platform,
        "endpoint_arn": device.endpoint_arn,
        "token_hash": device.token_hash,
        "created_at": device.created_at,
    }


def device_set_from_item(user_id: str, item: Item | None) -> DeviceSet:
    """A stored device-set item (or none) as a :class:`DeviceSet`."""
    if not item:
        return DeviceSet(user_id)
    entries = item.get("devices") or {}
    devices = tuple(_device_from_entry(k, v) for k, v in entries.items() if isinstance(v, dict))
    return DeviceSet(user_id, devices, int(item.get("version", 0)))


def _claim_from_item(item: Item | None) -> TokenClaim | None:
    if not item:
        return None
    return TokenClaim(
        platform=str(item["platform"]),
        token_hash=str(item["token_hash"]),
        user_id=str(item["user_id"]),
        device_id=str(item["device_id"]),
        endpoint_arn=str(item["endpoint_arn"]),
    )


class _Table:
    """The low-level client and table name, plus a batched consistent read."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def batch_get(self, item_keys: Sequence[keys.Key]) -> dict[tuple[str, str], Item]:
        """BatchGetItem of any number of keys (100 per call), retrying unprocessed keys."""
        return batch_get(self._client, self._table, item_keys)


# --- devices ----------------------------------------------------------------------------------


class DynamoDeviceStore(_Table):
    """Device sets (``USER#u / DEVICES``) and token claims (``PUSHTOKEN#platform#hash``)."""

    def load(self, user_id: str) -> DeviceSet:
        """GetItem (consistent) of the user's device set."""
        found = get_item(self._client, self._table, keys.devices(user_id))
        return device_set_from_item(user_id, found)

    def load_with_claim(
        self, user_id: str, platform: str, token_hash: str
    ) -> tuple[DeviceSet, TokenClaim | None]:
        """One BatchGetItem: the device set and the token's claim."""
        set_key, claim_key = keys.devices(user_id), keys.push_token(platform, token_hash)
        found = self.batch_get([set_key, claim_key])
        return device_set_from_item(user_id, found.get(item_key(set_key))), _claim_from_item(
            found.get(item_key(claim_key))
        )

    def _put_set(self, user_id: str, devices: Sequence[Device], expected_version: int) -> tx.Action:
        item = {
            **keys.devices(user_id),
            "entity": "device_set",
            "user_id": user_id,
            "version": expected_version + 1,
            "devices": {d.device_id: _entry(d) for d in devices},
        }
        if expected_version == 0:
            return tx.put(self._table, item, condition="attribute_not_exists(pk)")
        return tx.put(self._table, item, condition="version = :version", version=expected_version)

    def _delete_claim(self, user_id: str, device: Device) -> tx.Action:
        return tx.delete(
            self._table,
            keys.push_token(device.platform, device.token_hash),
            condition=_CLAIM_UNCHANGED,
            claim_user=user_id,
            claim_device=device.device_id,
        )

    def _remove_entry(self, user_id: str, device_id: str, condition: str, **named: Any) -> tx.Action:
        return tx.update(
            self._table,
            keys.devices(user_id),
            "REMOVE devices.#device ADD version :one",
            condition=condition,
            names={"#device": device_id},
            one=1,
            **named,
        )

    def _transact(self, actions: list[tx.Action]) -> None:
        try:
            tx.transact(self._client, actions)
        except TransactionCancelled as err:
            raise DeviceSetConflictError(str(err)) from err

    def save_registration(self, registration: Registration) -> None:
        """One TransactWriteItems: new set (version-checked), claim, previous owner's loss,
        evicted claims."""
        r = registration
        claim = r.claim
        claim_item = {
            **keys.push_token(claim.platform, claim.token_hash),
            "entity": "push_token",
            "platform": claim.platform,
            "token_hash": claim.token_hash,
            "user_id": claim.user_id,
            "device_id": claim.device_id,
            "endpoint_arn": claim.endpoint_arn,
        }
        previous = r.previous_claim
        if previous is None:
            claim_put = tx.put(self._table, claim_item, condition="attribute_not_exists(pk)")
        else:
            claim_put = tx.put(
                self._table,
                claim_item,
                condition="user_id = :claim_user AND device_id = :claim_device",
                claim_user=previous.user_id,
                claim_device=previous.device_id,
            )
        actions = [self._put_set(r.user_id, r.devices, r.expected_version), claim_put]
        if previous is not None and previous.user_id != r.user_id:
            # The phone moved to this account: the previous owner loses the device.
            actions.append(self._remove_entry(previous.user_id, previous.device_id, "attribute_exists(pk)"))
        actions += [self._delete_claim(r.user_id, d) for d in r.evicted]
        self._transact(actions)

    def remove(self, user_id: str, device: Device, expected_version: int) -> None:
        """One TransactWriteItems: drop the entry (version-checked) and its claim."""
        self._transact(
            [
                self._remove_entry(user_id, device.device_id, "version = :version", version=expected_version),
                self._delete_claim(user_id, device),
            ]
        )

    def remove_if_endpoint(self, user_id: str, device: Device) -> bool:
        """One TransactWriteItems: drop the entry only if it still has this endpoint."""
        try:
            self._transact(
                [
                    self._remove_entry(
                        user_id,
                        device.device_id,
                        "devices.#device.endpoint_arn = :endpoint",
                        endpoint=device.endpoint_arn,
                    ),
                    self._delete_claim(user_id, device),
                ]
            )
        except DeviceSetConflictError:
            return False
        return True


def _error_code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class SnsEndpointRegistry:
    """SNS platform endpoints under the stage's APNs / FCM platform applications."""

    def __init__(self, sns: Any, application_arns: dict[str, str]) -> None:
        self._sns = sns
        self._applications = application_arns

    def create(self, platform: str, token: str) -> str:
        """CreatePlatformEndpoint (idempotent per token; no attributes, so a repeat matches)."""
        from botocore.exceptions import BotoCoreError, ClientError

        application = self._applications.get(platform, "")
        if not application:
            raise UnavailableError(f"Push notifications for {platform} are not configured.")
        try:
            out = self._sns.create_platform_endpoint(PlatformApplicationArn=application, Token=token)
        except ClientError as err:
            code = _error_code(err)
            if code == "InvalidParameter":
                raise PushTokenRejectedError("The push token was rejected.") from err
            if code in SNS_RETRYABLE_CODES:
                raise UnavailableError("The push service is unavailable; retry.") from err
            raise
        except BotoCoreError as err:
            raise UnavailableError("The push service is unavailable; retry.") from err
        return str(out["EndpointArn"])

    def delete(self, endpoint_arn: str) -> None:
        """DeleteEndpoint (idempotent in SNS)."""
        self._sns.delete_endpoint(EndpointArn=endpoint_arn)


# --- outbox -----------------------------------------------------------------------------------

# Whole-call PublishBatch errors by what to do about them (``chalicelib.notify.publishing``).
PUBLISH_RETRY_CODES = SNS_RETRYABLE_CODES | {"ServiceUnavailable", "InternalFailure", "RequestTimeout"}
PUBLISH_SPLIT_CODES = {
    "BatchRequestTooLong",
    "TooManyEntriesInBatchRequest",
    "InvalidParameter",
    "InvalidParameterValue",
    "ValidationError",
    "BatchEntryIdsNotDistinct",
    "EmptyBatchRequest",
}


def sns_entry(entry_id: str, event: DomainEvent) -> dict[str, Any]:
    """A PublishBatch entry for an event small enough to travel inline."""
    from chalicelib.notify.publishing import attributes_of

    return {"Id": entry_id, "Message": event.model_dump_json(), "MessageAttributes": attributes_of(event)}


class SnsEventTransport:
    """The events topic (PublishBatch) and the parked-events queue (SQS) for the publisher."""

    def __init__(self, sns: Any, sqs: Any, topic_arn: str, parked_queue_url: str) -> None:
        self._sns = sns
        self._sqs = sqs
        self._topic_arn = topic_arn
        self._parked_queue_url = parked_queue_url

    def publish_batch(self, envelopes: Sequence[Envelope]) -> list[EntryFailure]:
        """One PublishBatch; whole-call errors become :class:`PublishError` by code."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not self._topic_arn:
            raise PublishError("fatal", "NotConfigured", "EVENTS_TOPIC_ARN is not configured")
        entries = [
            {"Id": f"e{i}", "Message": e.message, "MessageAttributes": e.attributes}
            for i, e in enumerate(envelopes)
        ]
        try:
            out = self._sns.publish_batch(TopicArn=self._topic_arn, PublishBatchRequestEntries=entries)
        except ClientError as err:
            code = _error_code(err)
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            message = str(err.response.get("Error", {}).get("Message", ""))
            if code in PUBLISH_RETRY_CODES or status >= 500:
                raise PublishError("retry", code or str(status), message) from err
            if code in PUBLISH_SPLIT_CODES:
                raise PublishError("split", code, message) from err
            raise PublishError("fatal", code, message) from err
        except BotoCoreError as err:
            raise PublishError("retry", type(err).__name__, str(err)) from err
        return [
            EntryFailure(
                position=int(f["Id"][1:]),
                code=str(f.get("Code", "")),
                sender_fault=bool(f.get("SenderFault")),
                message=str(f.get("Message", "")),
            )
            for f in out.get("Failed", [])
        ]

    def park(self, envelope: Envelope, code: str, message: str) -> None:
        """SendMessage of the refused entry (body as published) to the parked-events queue."""
        if not self._parked_queue_url:
            raise UnavailableError("PARKED_EVENTS_QUEUE_URL is not configured")
        self._sqs.send_message(
            QueueUrl=self._parked_queue_url,
            MessageBody=envelope.message,
            MessageAttributes=parked_attributes(envelope, code, message),
        )


class S3EventBodyStore:
    """Claim-check storage: event bodies too big for SNS, in the media bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put(self, event_id: str, body: bytes) -> ClaimCheck:
        """PutObject ``events/<event_id>.json`` (the id is stable: a retry overwrites, same bytes)."""
        from chalicelib.core.event_bodies import EVENT_BODY_PREFIX

        key = f"{EVENT_BODY_PREFIX}{event_id}.json"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        return ClaimCheck(self._bucket, key)


class SnsEventPublisher:
    """Publishes domain events to the events topic within SNS's limits (``publishing``)."""

    def __init__(self, transport: SnsEventTransport, bodies: S3EventBodyStore) -> None:
        self._transport = transport
        self._bodies = bodies
        self.calls = 0

    def publish(self, events: Sequence[DomainEvent], retry_window_s: float = 0.0) -> set[int]:
        """PublishBatch calls of ≤ 10 entries and ≤ 256 KiB; the indexes still to publish."""
        if not events:
            return set()
        report = publish_events(events, self._bodies.put, self._transport, retry_window_s=retry_window_s)
        self.calls += report.calls
        if report.parked:
            record_event("events_parked", report.parked)
        return report.failed


# --- push -------------------------------------------------------------------------------------


class SnsPushSender:
    """Publishes one rendered push to one platform endpoint."""

    def __init__(self, sns: Any) -> None:
        self._sns = sns

    def send(self, endpoint_arn: str, message: str) -> None:
        """Publish with ``MessageStructure="json"``; dead endpoints → :class:`EndpointGoneError`."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._sns.publish(TargetArn=endpoint_arn, Message=message, MessageStructure="json")
        except ClientError as err:
            code = _error_code(err)
            if code in DEAD_ENDPOINT_CODES:
                raise EndpointGoneError(code) from err
            logger.warning("push failed", extra={"code": code})
            raise PushDeliveryError(code) from err
        except BotoCoreError as err:
            logger.warning("push failed", extra={"error": type(err).__name__})
            raise PushDeliveryError(type(err).__name__) from err


class DynamoRecipientReader(_Table):
    """Recipients' device sets, profiles (``push_previews``) and DM members (``muted``,
    ``unread_count``): one BatchGetItem per 33 recipients (3 keys each)."""

    def contexts(self, user_ids: Sequence[str], conversation_id: str | None) -> dict[str, RecipientContext]:
        """Push context of each recipient."""
        wanted: list[keys.Key] = []
        for user_id in user_ids:
            wanted += [keys.devices(user_id), keys.profile(user_id)]
            if conversation_id:
                wanted.append(member_key(conversation_id, user_id))
        found = self.batch_get(wanted)
        contexts: dict[str, RecipientContext] = {}
        for user_id in user_ids:
            devices = device_set_from_item(user_id, found.get(item_key(keys.devices(user_id)))).devices
            profile = found.get(item_key(keys.profile(user_id)), {})
            member = push_settings(
                found.get(item_key(member_key(conversation_id, user_id))) if conversation_id else None
            )
            contexts[user_id] = RecipientContext(
                devices=devices,
                push_previews=profile.get("push_previews", True) is not False,
                muted=member.muted,
                unread_count=member.unread_count,
            )
        return contexts


class DynamoPushMarkers(_Table):
    """``PUSHED#<event_id>`` markers (conditional put; TTL two days)."""

    def claim(self, event_id: str, now_ms: int) -> bool:
        """Conditional PutItem: True the first time, False if already pushed."""
        item = {
            **keys.push_marker(event_id),
            "entity": "push_marker",
            keys.TTL: now_ms // 1000 + PUSH_MARKER_TTL_SECONDS,
        }
        return tx.write_if(self._client, tx.put(self._table, item, condition="attribute_not_exists(pk)"))

    def release(self, event_id: str) -> None:
        """DeleteItem of the marker (so a retried delivery pushes)."""
        tx.write(self._client, tx.delete(self._table, keys.push_marker(event_id)))


# --- factories (plain functions: tests swap endpoints; clients underneath are cached) ---------


def device_store() -> DynamoDeviceStore:
    """The device repository."""
    return DynamoDeviceStore(clients.dynamodb(), get_settings().table_name)


def endpoint_registry() -> SnsEndpointRegistry:
    """The platform-endpoint registry of this stage."""
    settings = get_settings()
    return SnsEndpointRegistry(
        clients.sns(),
        {"apns": settings.apns_platform_application_arn, "fcm": settings.gcm_platform_application_arn},
    )


def event_publisher() -> SnsEventPublisher:
    """The events-topic publisher (claim-checked bodies in the media bucket, refused events
    parked in ``PARKED_EVENTS_QUEUE_URL``)."""
    settings = get_settings()
    transport = SnsEventTransport(
        clients.sns(), clients.sqs(), settings.events_topic_arn, settings.parked_events_queue_url
    )
    return SnsEventPublisher(transport, S3EventBodyStore(clients.s3(), settings.media_bucket))


def push_services() -> PushServices:
    """Everything the push subscriber needs."""
    table = get_settings().table_name
    return PushServices(
        markers=DynamoPushMarkers(clients.dynamodb(), table),
        graph=graph(),
        recipients=DynamoRecipientReader(clients.dynamodb(), table),
        sender=SnsPushSender(clients.sns()),
        devices=device_store(),
        endpoints=endpoint_registry(),
    )
