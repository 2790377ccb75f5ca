"""What the notify logic needs from storage and services, as Protocols (the dal and
clients implement them; unit tests use in-memory fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from chalicelib.core.domain_events import DomainEvent

if TYPE_CHECKING:
    from chalicelib.notify.devices import (
        Device,
        DeviceSet,
        Registration,
        TokenClaim,
    )
    from chalicelib.notify.publishing import EntryFailure, Envelope
    from chalicelib.notify.push import RecipientContext


class DeviceStore(Protocol):
    """Persistence of device sets and token claims."""

    def load(self, user_id: str) -> DeviceSet:
        """The user's devices (an empty set with version 0 when none)."""
        ...

    def load_with_claim(
        self, user_id: str, platform: str, token_hash: str
    ) -> tuple[DeviceSet, TokenClaim | None]:
        """The user's devices and the token's current claim, in one read."""
        ...

    def save_registration(self, registration: Registration) -> None:
        """Write the new set, the claim, the previous owner's loss and evicted claims atomically;
        raise :class:`DeviceSetConflictError` if anything changed since it was read."""
        ...

    def remove(self, user_id: str, device: Device, expected_version: int) -> None:
        """Remove one device and its claim; :class:`DeviceSetConflictError` on a lost race."""
        ...

    def remove_if_endpoint(self, user_id: str, device: Device) -> bool:
        """Remove the device only if it still points at ``device.endpoint_arn``; True if removed."""
        ...


class EndpointRegistry(Protocol):
    """The push service's endpoints (SNS platform endpoints)."""

    def create(self, platform: str, token: str) -> str:
        """Create (or get, idempotently per token) the endpoint of a token; return its ARN.
        Raise :class:`PushTokenRejectedError` when the token is not acceptable."""
        ...

    def delete(self, endpoint_arn: str) -> None:
        """Delete an endpoint (idempotent)."""
        ...


class EventPublisher(Protocol):
    """Publishes domain events to the events topic."""

    def publish(self, events: Sequence[DomainEvent], retry_window_s: float = 0.0) -> set[int]:
        """Publish ``events`` in order (as many calls as SNS's limits need); return the indexes
        not published (parked events count as done)."""
        ...


class Transport(Protocol):
    """The topic and the dead-letter queue."""

    def publish_batch(self, envelopes: Sequence[Envelope]) -> list[EntryFailure]:
        """One PublishBatch; the entries SNS refused (raises :class:`PublishError`)."""
        ...

    def park(self, envelope: Envelope, code: str, message: str) -> None:
        """Send an event SNS refused for good to the dead-letter queue (raises on failure)."""
        ...


class RecipientReader(Protocol):
    """Reads recipients' push context; implementations batch (not one call per recipient)."""

    def contexts(self, user_ids: Sequence[str], conversation_id: str | None) -> dict[str, RecipientContext]:
        """Context of each user (a default context for unknown users)."""
        ...


class PushMarkers(Protocol):
    """At-most-once guard per event id (SNS delivers at least once)."""

    def claim(self, event_id: str, now_ms: int) -> bool:
        """True the first time for an event id, False for a redelivery (``now_ms`` dates the claim)."""
        ...

    def release(self, event_id: str) -> None:
        """Forget a claim so that a retry of a failed delivery pushes again."""
        ...


class PushSender(Protocol):
    """Sends one rendered push to one endpoint."""

    def send(self, endpoint_arn: str, message: str) -> None:
        """Publish; raise :class:`EndpointGoneError` or :class:`PushDeliveryError`."""
        ...
