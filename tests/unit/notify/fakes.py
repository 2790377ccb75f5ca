"""In-memory stand-ins for the notify domain's repositories and AWS services."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.core.domain_events import DomainEvent, parse_event_message
from chalicelib.notify.devices import (
    Device,
    DeviceSet,
    DeviceSetConflictError,
    PushTokenRejectedError,
    Registration,
    TokenClaim,
)
from chalicelib.notify.publishing import (
    MAX_BATCH_ENTRIES,
    MAX_PAYLOAD_BYTES,
    ClaimCheck,
    EntryFailure,
    Envelope,
    PublishError,
    publish_events,
)
from chalicelib.notify.push import EndpointGoneError, PushDeliveryError, RecipientContext
from chalicelib.social.access import PairState


class MemoryDeviceStore:
    """Device sets and token claims with the same optimistic rules as the DynamoDB store."""

    def __init__(self) -> None:
        self.sets: dict[str, DeviceSet] = {}
        self.claims: dict[tuple[str, str], TokenClaim] = {}
        self.conflicts_to_raise = 0

    def load(self, user_id: str) -> DeviceSet:
        return self.sets.get(user_id, DeviceSet(user_id))

    def load_with_claim(
        self, user_id: str, platform: str, token_hash: str
    ) -> tuple[DeviceSet, TokenClaim | None]:
        return self.load(user_id), self.claims.get((platform, token_hash))

    def save_registration(self, registration: Registration) -> None:
        if self.conflicts_to_raise:
            self.conflicts_to_raise -= 1
            raise DeviceSetConflictError("simulated race")
        r = registration
        if self.load(r.user_id).version != r.expected_version:
            raise DeviceSetConflictError("version")
        current = self.claims.get((r.claim.platform, r.claim.token_hash))
        if current != r.previous_claim:
            raise DeviceSetConflictError("claim")
        self.sets[r.user_id] = DeviceSet(r.user_id, tuple(r.devices), r.expected_version + 1)
        self.claims[(r.claim.platform, r.claim.token_hash)] = r.claim
        previous = r.previous_claim
        if previous is not None and previous.user_id != r.user_id:
            old = self.load(previous.user_id)
            kept = tuple(d for d in old.devices if d.device_id != previous.device_id)
            self.sets[previous.user_id] = DeviceSet(previous.user_id, kept, old.version + 1)
        for device in r.evicted:
            self.claims.pop((device.platform, device.token_hash), None)

    def _drop(self, user_id: str, device: Device) -> None:
        old = self.load(user_id)
        kept = tuple(d for d in old.devices if d.device_id != device.device_id)
        self.sets[user_id] = DeviceSet(user_id, kept, old.version + 1)
        claim = self.claims.get((device.platform, device.token_hash))
        if claim is not None and claim.user_id == user_id:
            del self.claims[(device.platform, device.token_hash)]

    def remove(self, user_id: str, device: Device, expected_version: int) -> None:
        if self.load(user_id).version != expected_version:
            raise DeviceSetConflictError("version")
        self._drop(user_id, device)

    def remove_if_endpoint(self, user_id: str, device: Device) -> bool:
        stored = self.load(user_id).find(device.device_id)
        if stored is None or stored.endpoint_arn != device.endpoint_arn:
            return False
        self._drop(user_id, device)
        return True


class FakeEndpoints:
    """SNS platform endpoints: one per (platform, token), like SNS."""

    def __init__(self) -> None:
        self.by_token: dict[tuple[str, str], str] = {}
        self.deleted: list[str] = []
        self.created = 0

    def create(self, platform: str, token: str) -> str:
        if token == "rejected":
            raise PushTokenRejectedError("The push token was rejected.")
        self.created += 1
        return self.by_token.setdefault((platform, token), f"arn:endpoint/{platform}/{len(self.by_token)}")

    def delete(self, endpoint_arn: str) -> None:
        self.deleted.append(endpoint_arn)
        self.by_token = {k: v for k, v in self.by_token.items() if v != endpoint_arn}

    def live(self) -> set[str]:
        return set(self.by_token.values())


class FakeTransport:
    """An in-memory events topic and dead-letter queue with SNS's limits.

    ``failing`` event ids are refused by SNS as a receiver fault (retryable); ``refused`` ids
    for good (``SenderFault``); ``outage`` raises a retryable whole-call error that many times.
    """

    def __init__(
        self, failing: set[str] | None = None, refused: set[str] | None = None, outage: int = 0
    ) -> None:
        self.failing = failing if failing is not None else set()
        self.refused = refused or set()
        self.outage = outage
        self.published: list[Envelope] = []
        self.parked: list[tuple[Envelope, str]] = []
        self.calls = 0

    def publish_batch(self, envelopes: Sequence[Envelope]) -> list[EntryFailure]:
        self.calls += 1
        if len(envelopes) > MAX_BATCH_ENTRIES:
            raise PublishError("split", "TooManyEntriesInBatchRequest")
        if sum(e.size for e in envelopes) > MAX_PAYLOAD_BYTES:
            raise PublishError("split", "BatchRequestTooLong")
        if self.outage:
            self.outage -= 1
            raise PublishError("retry", "InternalError")
        failures: list[EntryFailure] = []
        for position, envelope in enumerate(envelopes):
            if envelope.event_id in self.refused:
                failures.append(EntryFailure(position, "InvalidParameter", sender_fault=True))
            elif envelope.event_id in self.failing:
                failures.append(EntryFailure(position, "InternalError", sender_fault=False))
            else:
                self.published.append(envelope)
        return failures

    def park(self, envelope: Envelope, code: str, message: str) -> None:
        self.parked.append((envelope, code))


class FakeBodyStore:
    """Claim-check storage in a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, event_id: str, body: bytes) -> ClaimCheck:
        key = f"events/{event_id}.json"
        self.objects[key] = body
        return ClaimCheck("bucket", key)

    def fetch(self, bucket: str, key: str) -> bytes:
        return self.objects[key]


class FakePublisher:
    """The real publishing logic over :class:`FakeTransport` (no sleeping)."""

    def __init__(self, failing: set[str] | None = None, refused: set[str] | None = None) -> None:
        self.transport = FakeTransport(failing=failing, refused=refused)
        self.bodies = FakeBodyStore()

    @property
    def failing(self) -> set[str]:
        return self.transport.failing

    @property
    def calls(self) -> int:
        return self.transport.calls

    @property
    def published(self) -> list[DomainEvent]:
        return [parse_event_message(e.message, self.bodies.fetch) for e in self.transport.published]

    def publish(self, events: Sequence[DomainEvent], retry_window_s: float = 0.0) -> set[int]:
        report = publish_events(
            events, self.bodies.put, self.transport, retry_window_s=retry_window_s, sleep=lambda s: None
        )
        return report.failed


@dataclass
class FakeGraph:
    """Blocks between pairs, either direction."""

    blocks: set[tuple[str, str]] = field(default_factory=set)

    def pair_states(self, sender: str, recipients: Sequence[str]) -> dict[str, PairState]:
        return {
            r: PairState(
                sender_blocked_recipient=(sender, r) in self.blocks,
                recipient_blocked_sender=(r, sender) in self.blocks,
            )
            for r in recipients
        }


@dataclass
class FakeRecipients:
    """Per-user push context; ``fail`` makes the read raise (a DynamoDB outage)."""

    contexts_by_user: dict[str, RecipientContext] = field(default_factory=dict)
    fail: bool = False
    calls: int = 0

    def contexts(self, user_ids: Sequence[str], conversation_id: str | None) -> dict[str, RecipientContext]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("table unavailable")
        return {u: self.contexts_by_user.get(u, RecipientContext()) for u in user_ids}


@dataclass
class FakeMarkers:
    """Event-id markers."""

    claimed: set[str] = field(default_factory=set)

    def claim(self, event_id: str, now_ms: int) -> bool:
        if event_id in self.claimed:
            return False
        self.claimed.add(event_id)
        return True

    def release(self, event_id: str) -> None:
        self.claimed.discard(event_id)


@dataclass
class FakeSender:
    """Records pushes per endpoint; ``dead`` endpoints are disabled, ``flaky`` ones error."""

    dead: set[str] = field(default_factory=set)
    flaky: set[str] = field(default_factory=set)
    sent: dict[str, list[str]] = field(default_factory=dict)

    def send(self, endpoint_arn: str, message: str) -> None:
        if endpoint_arn in self.dead:
            raise EndpointGoneError("EndpointDisabled")
        if endpoint_arn in self.flaky:
            raise PushDeliveryError("InternalError")
        self.sent.setdefault(endpoint_arn, []).append(message)
