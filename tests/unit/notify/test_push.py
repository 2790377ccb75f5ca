"""Who gets a push and what it says: actor, mute, block, previews, badge, dead endpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.core.domain_events import DomainEvent, stable_event_id
from chalicelib.notify.devices import Device, DeviceSet
from chalicelib.notify.push import PushServices, RecipientContext, deliver_event
from tests.unit.notify.fakes import (
    FakeEndpoints,
    FakeGraph,
    FakeMarkers,
    FakeRecipients,
    FakeSender,
    MemoryDeviceStore,
)

NOW = 1_800_000_000_000  # the edge's clock, epoch ms


def _device(user: str, n: int = 1, platform: str = "apns") -> Device:
    return Device(
        f"{user}-dev{n}", platform, f"arn:{user}:{n}", f"hash-{user}-{n}", f"2026-01-0{n}T00:00:00.000Z"
    )


class World:
    """A push setup: users with devices and settings, and every fake the logic talks to."""

    def __init__(self) -> None:
        self.store = MemoryDeviceStore()
        self.endpoints = FakeEndpoints()
        self.graph = FakeGraph()
        self.recipients = FakeRecipients()
        self.markers = FakeMarkers()
        self.sender = FakeSender()

    def user(self, user: str, *devices: Device, **settings: Any) -> None:
        self.store.sets[user] = DeviceSet(user, devices, 1)
        self.recipients.contexts_by_user[user] = RecipientContext(devices=devices, **settings)

    def services(self) -> PushServices:
        return PushServices(
            self.markers, self.graph, self.recipients, self.sender, self.store, self.endpoints
        )

    def pushes(self, device: Device) -> list[dict[str, Any]]:
        return [json.loads(m) for m in self.sender.sent.get(device.endpoint_arn, [])]


def _event(type_: str = "message.sent", **data: Any) -> DomainEvent:
    return DomainEvent(
        event_id=stable_event_id(type_, json.dumps(data, sort_keys=True)),
        type=type_,
        occurred_at="2026-01-01T00:00:00.000Z",
        actor_id=data.pop("actor", "alice"),
        recipient_ids=data.pop("recipients", ["alice", "bob"]),
        data=data,
    )


@pytest.fixture
def world() -> World:
    w = World()
    w.user("alice", _device("alice"))
    w.user("bob", _device("bob", 1), _device("bob", 2, "fcm"), unread_count=3)
    return w


def test_a_message_reaches_every_device_of_the_recipient_but_not_the_sender(world: World) -> None:
    # When alice sends bob a message
    outcome = deliver_event(_event(conversation_id="c1", text="hi bob"), world.services(), NOW)
    # Then both of bob's devices get it, alice's gets nothing
    assert outcome.sent == 2
    assert world.pushes(_device("alice")) == []
    apns = json.loads(world.pushes(_device("bob", 1))[0]["APNS"])
    assert apns["aps"]["alert"] == {"title": "New message", "body": "hi bob"}
    assert apns["aps"]["badge"] == 3
    assert apns["conversation_id"] == "c1"


def test_the_push_has_apns_and_fcm_payloads_shaped_for_their_services(world: World) -> None:
    deliver_event(_event(conversation_id="c1", text="hi bob", message_id="m1"), world.services(), NOW)
    message = world.pushes(_device("bob", 2, "fcm"))[0]
    assert message["default"] == "hi bob"
    assert json.loads(message["APNS_SANDBOX"]) == json.loads(message["APNS"])
    fcm = json.loads(message["GCM"])["fcmV1Message"]["message"]
    assert fcm["notification"] == {"title": "New message", "body": "hi bob"}
    assert fcm["data"]["conversation_id"] == "c1"
    assert fcm["data"]["message_id"] == "m1"
    assert all(isinstance(v, str) for v in fcm["data"].values())
    assert fcm["android"]["notification"]["notification_count"] == 3


def test_a_muted_conversation_sends_no_push(world: World) -> None:
    world.user("bob", _device("bob"), muted=True)
    outcome = deliver_event(_event(conversation_id="c1", text="hi"), world.services(), NOW)
    assert outcome.sent == 0
    assert world.pushes(_device("bob")) == []


@pytest.mark.parametrize("block", [("bob", "alice"), ("alice", "bob")])
def test_no_push_crosses_a_block_in_either_direction(world: World, block: tuple[str, str]) -> None:
    world.graph.blocks.add(block)
    outcome = deliver_event(_event(conversation_id="c1", text="hi"), world.services(), NOW)
    assert outcome.sent == 0
    assert outcome.skipped_recipients == ["bob"]


def test_previews_off_hides_the_text(world: World) -> None:
    world.user("bob", _device("bob"), push_previews=False)
    deliver_event(_event(conversation_id="c1", text="my secret"), world.services(), NOW)
    (message,) = world.pushes(_device("bob"))
    assert "my secret" not in json.dumps(message)
    assert json.loads(message["APNS"])["aps"]["alert"]["body"] == "New message"


def test_long_text_is_cut_to_100_characters(world: World) -> None:
    text = "x" * 250
    deliver_event(_event(conversation_id="c1", text=text), world.services(), NOW)
    body = json.loads(world.pushes(_device("bob"))[0]["APNS"])["aps"]["alert"]["body"]
    assert len(body) == 100
    assert body.startswith("x" * 99)


def test_an_order_paid_event_reaches_buyer_and_seller_with_the_order_id(world: World) -> None:
    event = _event("order.paid", order_id="o1", actor=None, recipients=["alice", "bob"])
    outcome = deliver_event(event, world.services(), NOW)
    assert outcome.sent == 3
    apns = json.loads(world.pushes(_device("alice"))[0]["APNS"])
    assert apns["order_id"] == "o1"
    assert "badge" not in apns["aps"]


def test_a_refund_is_pushed_to_the_buyer(world: World) -> None:
    # Given a refunded order, when its event is delivered
    outcome = deliver_event(
        _event("order.refunded", order_id="o1", actor=None, recipients=["alice"]), world.services(), NOW
    )
    # Then the buyer's phone says so
    assert outcome.sent == 1
    apns = json.loads(world.pushes(_device("alice"))[0]["APNS"])
    assert apns["aps"]["alert"]["body"] == "Order o1 has been refunded."


def test_a_late_payment_refund_tells_the_buyer_why(world: World) -> None:
    # Given an order refunded automatically because its units sold before the payment arrived
    event = _event(
        "order.refunded", order_id="o1", refund_reason="late_payment", actor=None, recipients=["alice"]
    )
    # When its event is delivered
    assert deliver_event(event, world.services(), NOW).sent == 1
    # Then the buyer's phone explains it
    apns = json.loads(world.pushes(_device("alice"))[0]["APNS"])
    assert (
        apns["aps"]["alert"]["body"] == "Your payment was refunded: the item sold out before it went through"
    )


def test_other_event_types_are_ignored(world: World) -> None:
    outcome = deliver_event(_event("order.expired", order_id="o1", actor=None), world.services(), NOW)
    assert outcome.sent == 0
    assert world.markers.claimed == set()


def test_a_redelivered_event_is_pushed_once(world: World) -> None:
    event = _event(conversation_id="c1", text="hi")
    deliver_event(event, world.services(), NOW)
    again = deliver_event(event, world.services(), NOW)
    assert again.duplicate is True
    assert len(world.pushes(_device("bob", 1))) == 1


def test_a_disabled_endpoint_removes_only_that_device_and_others_still_get_the_push(world: World) -> None:
    # Given bob's first phone uninstalled the app (its endpoint is disabled)
    dead, alive = _device("bob", 1), _device("bob", 2, "fcm")
    world.sender.dead.add(dead.endpoint_arn)
    # When alice messages him
    outcome = deliver_event(_event(conversation_id="c1", text="hi"), world.services(), NOW)
    # Then the other phone got it, and only the dead device is gone (with its endpoint)
    assert len(world.pushes(alive)) == 1
    assert outcome.removed_devices == 1
    assert [d.device_id for d in world.store.load("bob").devices] == [alive.device_id]
    assert world.endpoints.deleted == [dead.endpoint_arn]


def test_one_failing_device_does_not_stop_the_others(world: World) -> None:
    world.sender.flaky.add(_device("bob", 1).endpoint_arn)
    outcome = deliver_event(_event(conversation_id="c1", text="hi"), world.services(), NOW)
    assert outcome.failed == 1
    assert len(world.pushes(_device("bob", 2, "fcm"))) == 1
    assert len(world.store.load("bob").devices) == 2


def test_when_reading_recipients_fails_the_retry_still_pushes(world: World) -> None:
    event = _event(conversation_id="c1", text="hi")
    world.recipients.fail = True
    with pytest.raises(RuntimeError):
        deliver_event(event, world.services(), NOW)
    world.recipients.fail = False
    outcome = deliver_event(event, world.services(), NOW)
    assert outcome.sent == 2


def test_a_message_published_by_dm_as_a_nested_view_is_read_from_there(world: World) -> None:
    # Given the dm outbox's shape: data.message is the message view, data.preview its text
    event = _event(
        conversation_id="c1",
        preview="see you at 8",
        message={"message_id": "m9", "type": "text", "text": "see you at 8", "conversation_id": "c1"},
    )
    deliver_event(event, world.services(), NOW)
    apns = json.loads(world.pushes(_device("bob"))[0]["APNS"])
    assert apns["aps"]["alert"]["body"] == "see you at 8"
    assert apns["message_id"] == "m9"


def test_a_shared_video_without_a_note_names_the_video(world: World) -> None:
    event = _event(
        "video.shared",
        conversation_id="c1",
        message={"type": "video_share", "text": None, "video": {"video_id": "v1", "title": "Cats"}},
    )
    deliver_event(event, world.services(), NOW)
    apns = json.loads(world.pushes(_device("bob"))[0]["APNS"])
    assert apns["aps"]["alert"]["body"] == "Shared a video: Cats"
    assert apns["video_id"] == "v1"


def test_a_share_delivered_as_dm_messages_is_not_pushed_twice(world: World) -> None:
    # Given the share landed in bob's direct conversation (its message.sent pushes it)
    event = _event("video.shared", title="Cats", video_id="v1", conversation_ids=["c1"])
    # When the video.shared event arrives
    outcome = deliver_event(event, world.services(), NOW)
    # Then it adds no second push
    assert outcome.sent == 0
    assert world.pushes(_device("bob")) == []


def test_a_share_event_alone_names_the_video(world: World) -> None:
    deliver_event(_event("video.shared", title="Cats", video_id="v1"), world.services(), NOW)
    apns = json.loads(world.pushes(_device("bob"))[0]["APNS"])
    assert apns["aps"]["alert"]["body"] == "Shared a video: Cats"


# --- reactions --------------------------------------------------------------------------------


def _reaction(author: str = "alice", **extra: Any) -> DomainEvent:
    data = {
        "conversation_id": "c1",
        "message_id": "m1",
        "emoji": "👍🏽",
        "user_id": "bob",
        "author_id": author,
        "actor": "bob",
        "recipients": ["alice", "carol"],
    }
    return _event("reaction.added", **{**data, **extra})


def test_a_reaction_pushes_the_author_only(world: World) -> None:
    # Given carol is a member too, with a device
    world.user("carol", _device("carol"))
    # When bob reacts to alice's message
    outcome = deliver_event(_reaction(), world.services(), NOW)
    # Then alice alone gets "bob reacted 👍🏽 to your message"
    assert outcome.sent == 1 and world.pushes(_device("carol")) == []
    apns = json.loads(world.pushes(_device("alice"))[0]["APNS"])
    assert apns["aps"]["alert"] == {"title": "New reaction", "body": "bob reacted 👍🏽 to your message"}
    assert apns["message_id"] == "m1" and apns["conversation_id"] == "c1"


def test_a_reaction_push_honours_previews_mute_and_blocks(world: World) -> None:
    # Previews off: no name, no emoji
    world.user("alice", _device("alice"), push_previews=False)
    deliver_event(_reaction(), world.services(), NOW)
    apns = json.loads(world.pushes(_device("alice"))[0]["APNS"])
    assert apns["aps"]["alert"]["body"] == "Someone reacted to your message"
    # Muted: nothing
    world.user("alice", _device("alice", 2), muted=True)
    assert deliver_event(_reaction(message_id="m2"), world.services(), NOW).sent == 0
    # Blocked: nothing
    world.user("alice", _device("alice", 3))
    world.graph.blocks.add(("alice", "bob"))
    outcome = deliver_event(_reaction(message_id="m3"), world.services(), NOW)
    assert outcome.sent == 0 and outcome.skipped_recipients == ["alice"]


def test_reacting_to_ones_own_message_or_removing_pushes_nothing(world: World) -> None:
    assert deliver_event(_reaction(author="bob"), world.services(), NOW).sent == 0
    removed = _event("reaction.removed", user_id="bob", author_id=None, actor="bob", recipients=["alice"])
    assert deliver_event(removed, world.services(), NOW).sent == 0
