"""Mobile push for domain events (plain logic over Protocol-typed readers and senders).

Who gets a push: every recipient of the event except the actor, unless a block separates them
or they muted the conversation. What it says: the text (≤ 100 characters) when the recipient
allows previews, otherwise "New message". One push per device; a dead endpoint removes that
device only, and one failing device never stops the others.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.domain_events import DomainEvent
from chalicelib.core.observability import logger
from chalicelib.notify.devices import Device, DeviceStore, EndpointRegistry, forget_dead_device
from chalicelib.notify.ports import PushMarkers, PushSender, RecipientReader
from chalicelib.social.access import GraphReader

PUSH_TYPES = frozenset(
    {
        "message.sent",
        "conversation.request",
        "video.shared",
        "order.paid",
        "order.payment_failed",
        "order.refunded",
        "order.disputed",
        "reaction.added",
        "account.export_ready",
    }
)
MESSAGE_TYPES = frozenset({"message.sent", "conversation.request", "video.shared", "reaction.added"})
NO_PREVIEW_REACTION = "Someone reacted to your message"
PREVIEW_LIMIT = 100
NO_PREVIEW_BODY = "New message"
ELLIPSIS = "…"

TITLES = {
    "message.sent": "New message",
    "conversation.request": "New message request",
    "video.shared": "A video was shared with you",
    "order.paid": "Order paid",
    "order.payment_failed": "Payment failed",
    "order.refunded": "Order refunded",
    "order.disputed": "Payment disputed",
    "reaction.added": "New reaction",
    "account.export_ready": "Your data export",
}
# Why checkout refunded on its own (``refund_reason``) → what the buyer is told.
AUTOMATIC_REFUND_BODIES = {
    "late_payment": "Your payment was refunded: the item sold out before it went through",
    "order_cancelled": "Your payment was refunded: the order was cancelled before it went through",
}
# Event data keys copied into the push as custom data, so the app can open the right screen.
CUSTOM_DATA_KEYS = ("conversation_id", "message_id", "order_id", "video_id", "share_id", "export_id")


class EndpointGoneError(Exception):
    """The push service says the endpoint is disabled or deleted (the token is dead)."""


class PushDeliveryError(Exception):
    """One push could not be handed to the push service (the others still go out)."""


@dataclass(frozen=True)
class RecipientContext:
    """What decides one recipient's push: devices, preview setting, conversation mute/unread."""

    devices: tuple[Device, ...] = ()
    push_previews: bool = True
    muted: bool = False
    unread_count: int | None = None


@dataclass(frozen=True)
class PushServices:
    """Everything :func:`deliver_event` talks to."""

    markers: PushMarkers
    graph: GraphReader
    recipients: RecipientReader
    sender: PushSender
    devices: DeviceStore
    endpoints: EndpointRegistry


@dataclass(frozen=True)
class Notification:
    """A push, platform-neutral."""

    title: str
    body: str
    badge: int | None = None
    thread_id: str | None = None
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class PushOutcome:
    """What happened to one event (for logs, metrics and tests)."""

    duplicate: bool = False
    sent: int = 0
    failed: int = 0
    removed_devices: int = 0
    skipped_recipients: list[str] = field(default_factory=list)


def truncate(text: str, limit: int = PREVIEW_LIMIT) -> str:
    """``text`` cut to at most ``limit`` characters, marking the cut with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def _fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Event data with the published message (``data.message``, as dm sends it) flattened in:
    top-level keys win, then the message's (``message_id``, ``text``, ``type``, ``video``)."""
    message = data.get("message")
    nested = message if isinstance(message, dict) else {}
    video = nested.get("video") if isinstance(nested.get("video"), dict) else data.get("video")
    merged = {**nested, **data}
    merged.setdefault("message_type", nested.get("type", ""))
    if isinstance(video, dict):
        merged.setdefault("video_id", video.get("video_id"))
        merged.setdefault("video_title", video.get("title"))
    merged.setdefault("video_title", data.get("title"))  # share's event names the video ``title``
    return merged


def _pushed_elsewhere(event: DomainEvent) -> bool:
    """A share that landed as DM messages is pushed through those messages' ``message.sent``
    (mute-aware, per conversation): pushing ``video.shared`` too would notify twice."""
    return event.type == "video.shared" and bool(event.data.get("conversation_ids"))


def _body(event: DomainEvent, fields: Mapping[str, Any], previews: bool) -> str:
    if event.type == "account.export_ready":
        return "Your data is ready to download"
    order_id = _str(fields, "order_id")
    if event.type == "order.paid":
        return f"Order {order_id} has been paid." if order_id else "Your order has been paid."
    if event.type == "order.payment_failed":
        return f"The payment for order {order_id} failed." if order_id else "A payment failed."
    if event.type == "order.refunded" and _str(fields, "refund_reason") in AUTOMATIC_REFUND_BODIES:
        return AUTOMATIC_REFUND_BODIES[_str(fields, "refund_reason")]
    if event.type == "order.disputed":
        return (
            f"The buyer disputed the payment for order {order_id}." if order_id else "A payment was disputed."
        )
    if event.type == "order.refunded":
        return f"Order {order_id} has been refunded." if order_id else "Your order has been refunded."
    if event.type == "reaction.added":
        if not previews:
            return NO_PREVIEW_REACTION
        return truncate(f"{_str(fields, 'user_id')} reacted {_str(fields, 'emoji')} to your message")
    if not previews:
        return NO_PREVIEW_BODY
    text = _str(fields, "text") or _str(fields, "preview") or _str(fields, "note")
    if text:
        return truncate(text)
    if event.type == "video.shared" or _str(fields, "message_type") == "video_share":
        title = _str(fields, "video_title")
        return truncate(f"Shared a video: {title}") if title else "Shared a video"
    if _str(fields, "message_type") == "attachment":
        return "Sent an attachment"
    return NO_PREVIEW_BODY


def compose(event: DomainEvent, context: RecipientContext) -> Notification:
    """The push one recipient gets for ``event``."""
    fields = _fields(event.data)
    conversation_id = _str(fields, "conversation_id") or None
    custom = {k: _str(fields, k) for k in CUSTOM_DATA_KEYS if _str(fields, k)}
    custom.update(event_type=event.type, event_id=event.event_id)
    return Notification(
        title=TITLES.get(event.type, "socialvideo"),
        body=_body(event, fields, context.push_previews),
        badge=context.unread_count if conversation_id else None,
        thread_id=conversation_id,
        data=custom,
    )


def render_sns_message(notification: Notification) -> str:
    """The ``Message`` for SNS ``MessageStructure="json"``: a string per platform, each shaped
    as that service expects (APNs ``aps`` dictionary; FCM HTTP v1 message for GCM)."""
    aps: dict[str, Any] = {
        "alert": {"title": notification.title, "body": notification.body},
        "sound": "default",
    }
    if notification.badge is not None:
        aps["badge"] = notification.badge
    if notification.thread_id:
        aps["thread-id"] = notification.thread_id
    apns = json.dumps({"aps": aps, **notification.data}, separators=(",", ":"))
    android_notification: dict[str, Any] = {}
    if notification.thread_id:
        android_notification["tag"] = notification.thread_id
    if notification.badge is not None:
        android_notification["notification_count"] = notification.badge
    fcm_message: dict[str, Any] = {
        "notification": {"title": notification.title, "body": notification.body},
        "data": dict(notification.data),  # FCM data values must be strings
        "android": {
            "priority": "high",
            **({"notification": android_notification} if android_notification else {}),
        },
    }
    gcm = json.dumps({"fcmV1Message": {"message": fcm_message}}, separators=(",", ":"))
    return json.dumps(
        {"default": notification.body, "APNS": apns, "APNS_SANDBOX": apns, "GCM": gcm},
        separators=(",", ":"),
    )


def _recipients(event: DomainEvent) -> list[str]:
    """Who the event may notify: its recipients (once each), never the actor; a reaction only
    notifies the reacted message's author."""
    recipients = [r for r in dict.fromkeys(event.recipient_ids) if r and r != event.actor_id]
    if event.type == "reaction.added":
        author = _str(event.data, "author_id")
        return [author] if author in recipients else []
    return recipients


def _audience(event: DomainEvent, recipients: list[str], graph: GraphReader) -> tuple[list[str], list[str]]:
    """(recipients to consider, recipients dropped): never across a block."""
    if not event.actor_id or event.type not in MESSAGE_TYPES:
        return recipients, []
    states = graph.pair_states(event.actor_id, recipients)
    blocked = [r for r in recipients if states[r].blocked]
    return [r for r in recipients if r not in blocked], blocked


def deliver_event(event: DomainEvent, services: PushServices, now_ms: int) -> PushOutcome:
    """Send the pushes ``event`` implies, once per event id (``now_ms``: the edge's clock).

    If a read fails the claim is released and the error propagates, so the SNS retry pushes.
    """
    outcome = PushOutcome()
    if event.type not in PUSH_TYPES or _pushed_elsewhere(event):
        return outcome
    recipients = _recipients(event)
    if not recipients:  # no marker write for an event nobody gets
        return outcome
    if not services.markers.claim(event.event_id, now_ms):
        outcome.duplicate = True
        return outcome
    try:
        recipients, blocked = _audience(event, recipients, services.graph)
        outcome.skipped_recipients += blocked
        conversation_id = _str(event.data, "conversation_id") or None
        contexts = services.recipients.contexts(recipients, conversation_id) if recipients else {}
    except Exception:
        services.markers.release(event.event_id)
        raise
    for user_id in recipients:
        context = contexts.get(user_id, RecipientContext())
        if context.muted or not context.devices:
            outcome.skipped_recipients.append(user_id)
            continue
        message = render_sns_message(compose(event, context))
        for device in context.devices:
            try:
                services.sender.send(device.endpoint_arn, message)
                outcome.sent += 1
            except EndpointGoneError:
                outcome.failed += 1
                try:
                    if forget_dead_device(services.devices, services.endpoints, user_id, device):
                        outcome.removed_devices += 1
                except Exception:  # cleanup is retried by the next push to this device
                    logger.warning("dead device cleanup failed", extra={"device_id": device.device_id})
            except PushDeliveryError:
                outcome.failed += 1
    return outcome
