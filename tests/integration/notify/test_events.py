"""The outbox publisher and the push subscriber, invoked as Lambda would, against moto."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from chalicelib.core import keys
from chalicelib.core.ddb import serialize
from chalicelib.core.domain_events import DomainEvent, stable_event_id
from chalicelib.core.settings import get_settings
from chalicelib.core.streams import StreamChange
from chalicelib.notify import dal
from chalicelib.notify import events as notify_events
from tests.conftest import ApiClient, body_of

# --- helpers ----------------------------------------------------------------------------------


def _stream_record(seq: int, conversation_id: str = "c1") -> dict[str, Any]:
    """A Lambda-shaped stream record of a committed message."""
    image = serialize(
        {"pk": f"CONV#{conversation_id}", "sk": f"MSG#{seq:04d}", "entity": "message", "text": "hi"}
    )
    return {
        "eventID": f"rec-{seq}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/socialvideo/stream/x",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_767_225_600,
            "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image,
            "SequenceNumber": f"{seq:021d}",
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def message_mapper(change: StreamChange) -> list[DomainEvent]:
    """A stand-in for the dm mapper: one message.sent per message insert, id from the change."""
    item = change.item
    if item.get("entity") != "message":
        return []
    return [
        DomainEvent(
            event_id=stable_event_id("message.sent", item["pk"], item["sk"]),
            type="message.sent",
            occurred_at="2026-01-01T00:00:00.000Z",
            actor_id="alice",
            recipient_ids=["alice", "bob"],
            data={"conversation_id": item["pk"].removeprefix("CONV#"), "text": item.get("text", "")},
        )
    ]


def _publish(api: ApiClient, records: list[dict[str, Any]]) -> Any:
    return api.client.lambda_.invoke("notify_publish_outbox", {"Records": records}).payload


def _tap() -> list[dict[str, Any]]:
    """Drain the events-tap queue (raw delivery: bodies are the event JSON)."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    found: list[dict[str, Any]] = []
    while True:
        out = sqs.receive_message(
            QueueUrl=os.environ["EVENTS_TAP_QUEUE_URL"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        messages = out.get("Messages", [])
        if not messages:
            return found
        for m in messages:
            found.append({"event": json.loads(m["Body"]), "attributes": m.get("MessageAttributes", {})})
            sqs.delete_message(QueueUrl=os.environ["EVENTS_TAP_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"])


def _register(api: ApiClient, user: str, token: str, platform: str = "apns") -> str:
    response = api.put("/v1/me/devices", {"platform": platform, "token": token}, user=user)
    assert response.status_code == 201
    device_id: str = body_of(response)["device_id"]
    return device_id


def _endpoint_arn(user: str, device_id: str) -> str:
    device = dal.device_store().load(user).find(device_id)
    assert device is not None
    return device.endpoint_arn


def _pushes(endpoint_arn: str) -> list[dict[str, Any]]:
    endpoint = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].platform_endpoints.get(endpoint_arn)
    return [json.loads(m) for m in endpoint.messages.values()] if endpoint else []


def _apns_body(push: dict[str, Any]) -> str:
    body: str = json.loads(push["APNS"])["aps"]["alert"]["body"]
    return body


def _deliver(api: ApiClient, event: DomainEvent) -> None:
    sns_event = api.client.events.generate_sns_event(message=event.model_dump_json())
    api.client.lambda_.invoke("notify_push_event", sns_event)


def _message(text: str = "hi bob", conversation_id: str = "c1", **extra: Any) -> DomainEvent:
    return DomainEvent(
        event_id=stable_event_id("message.sent", conversation_id, text),
        type="message.sent",
        occurred_at="2026-01-01T00:00:00.000Z",
        actor_id="alice",
        recipient_ids=["alice", "bob"],
        data={"conversation_id": conversation_id, "text": text, **extra},
    )


def _put_member(conversation_id: str, user: str, **attrs: Any) -> None:
    """The DM member item as the dm domain writes it (``muted``, ``unread_count``)."""
    item = {**keys.member(conversation_id, user), "entity": "member", "user_id": user, **attrs}
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=get_settings().table_name, Item=serialize(item)
    )


@pytest.fixture
def mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use a stand-in dm mapper (the real ones are filled in by their domains)."""
    monkeypatch.setattr(notify_events, "MAPPERS", (message_mapper,))


# --- outbox -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("mapped")
def test_committed_changes_reach_the_events_topic_with_filterable_attributes(api: ApiClient) -> None:
    # When a batch of 12 committed messages is delivered from the stream
    result = _publish(api, [_stream_record(i) for i in range(12)])
    # Then nothing failed and all 12 events are on the tap queue with type / recipient_ids
    assert result == {"batchItemFailures": []}
    tapped = _tap()
    assert len(tapped) == 12
    first = tapped[0]
    assert first["event"]["type"] == "message.sent"
    assert first["event"]["occurred_at"] == "2026-01-01T00:00:00.000Z"
    assert first["attributes"]["type"] == {"DataType": "String", "StringValue": "message.sent"}
    assert json.loads(first["attributes"]["recipient_ids"]["StringValue"]) == ["alice", "bob"]


@pytest.mark.usefixtures("mapped")
def test_a_replayed_record_publishes_the_same_event_id(api: ApiClient) -> None:
    _publish(api, [_stream_record(1)])
    _publish(api, [_stream_record(1)])
    first, second = _tap()
    assert first["event"]["event_id"] == second["event"]["event_id"]


@pytest.mark.usefixtures("mapped")
def test_when_sns_is_down_the_batch_is_reported_failed_and_the_retry_publishes(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the topic cannot be reached (publishing fails), and the metrics the alarm watches
    from chalicelib.notify import events as notify_events

    recorded: list[str] = []
    monkeypatch.setattr(notify_events, "record_event", lambda name, value=1: recorded.append(name))
    real_topic = os.environ["EVENTS_TOPIC_ARN"]
    monkeypatch.setenv("EVENTS_TOPIC_ARN", real_topic + "-missing")
    get_settings.cache_clear()
    records = [_stream_record(i) for i in range(3)]
    # When the stream delivers the batch
    result = _publish(api, records)
    # Then the whole batch is reported failed from its first record, and nothing was published
    assert result == {"batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}
    assert _tap() == []
    assert recorded == ["events_publish_failed"]
    # When SNS is back and Lambda retries from the reported record
    monkeypatch.setenv("EVENTS_TOPIC_ARN", real_topic)
    get_settings.cache_clear()
    retry = _publish(api, records)
    # Then every event is published: nothing was lost
    assert retry == {"batchItemFailures": []}
    assert len(_tap()) == 3


# --- push -------------------------------------------------------------------------------------


def test_a_message_is_pushed_to_the_recipients_devices_not_the_senders(api: ApiClient) -> None:
    # Given bob has an iPhone and an Android phone, alice an iPhone; bob has 4 unread
    bob_ios, bob_android = _register(api, "bob", "b" * 64), _register(api, "bob", "bob-fcm", "fcm")
    alice_ios = _register(api, "alice", "a" * 64)
    _put_member("c1", "bob", unread_count=4)
    # When alice's message event arrives
    _deliver(api, _message("hi bob"))
    # Then both of bob's phones got a push shaped for their service; alice's got nothing
    (ios_push,) = _pushes(_endpoint_arn("bob", bob_ios))
    apns = json.loads(ios_push["APNS"])
    assert apns["aps"]["alert"]["body"] == "hi bob"
    assert apns["aps"]["badge"] == 4
    assert apns["conversation_id"] == "c1"
    (android_push,) = _pushes(_endpoint_arn("bob", bob_android))
    assert json.loads(android_push["GCM"])["fcmV1Message"]["message"]["data"]["conversation_id"] == "c1"
    assert _pushes(_endpoint_arn("alice", alice_ios)) == []


def test_a_redelivered_event_is_pushed_once(api: ApiClient) -> None:
    bob_ios = _register(api, "bob", "b" * 64)
    _deliver(api, _message())
    _deliver(api, _message())
    assert len(_pushes(_endpoint_arn("bob", bob_ios))) == 1


def test_no_push_for_a_muted_conversation(api: ApiClient) -> None:
    bob_ios = _register(api, "bob", "b" * 64)
    _put_member("c1", "bob", muted=True)
    _deliver(api, _message(conversation_id="c1"))
    _deliver(api, _message(conversation_id="c2"))
    # Only the unmuted conversation pushed
    (push,) = _pushes(_endpoint_arn("bob", bob_ios))
    assert json.loads(push["APNS"])["conversation_id"] == "c2"


def test_no_push_across_a_block(api: ApiClient) -> None:
    # Given bob blocked alice
    bob_ios = _register(api, "bob", "b" * 64)
    assert api.put("/v1/users/alice/block", user="bob").status_code == 204
    # When a message event from alice to bob arrives
    _deliver(api, _message())
    # Then bob's phone stays silent
    assert _pushes(_endpoint_arn("bob", bob_ios)) == []


def test_previews_off_says_new_message(api: ApiClient) -> None:
    # Given bob turned previews off
    bob_ios = _register(api, "bob", "b" * 64)
    assert api.patch("/v1/me/settings", {"push_previews": False}, user="bob").status_code == 200
    # When alice's message arrives
    _deliver(api, _message("the surprise party is on friday"))
    # Then the push does not reveal the text
    (push,) = _pushes(_endpoint_arn("bob", bob_ios))
    assert _apns_body(push) == "New message"
    assert "surprise" not in json.dumps(push)


def test_long_text_is_truncated_to_100_characters(api: ApiClient) -> None:
    bob_ios = _register(api, "bob", "b" * 64)
    _deliver(api, _message("y" * 500))
    (push,) = _pushes(_endpoint_arn("bob", bob_ios))
    assert len(_apns_body(push)) == 100


def test_a_disabled_endpoint_is_removed_and_the_other_device_still_gets_the_push(api: ApiClient) -> None:
    # Given bob has two phones and one of them uninstalled the app (endpoint disabled)
    dead, alive = _register(api, "bob", "b" * 64), _register(api, "bob", "bob-fcm", "fcm")
    dead_arn = _endpoint_arn("bob", dead)
    boto3.client("sns", region_name="us-east-1").set_endpoint_attributes(
        EndpointArn=dead_arn, Attributes={"Enabled": "false"}
    )
    # When a message arrives
    _deliver(api, _message())
    # Then the live phone got it, and only the dead device is gone (and its endpoint)
    assert len(_pushes(_endpoint_arn("bob", alive))) == 1
    listed = [d["device_id"] for d in body_of(api.get("/v1/me/devices", user="bob"))["items"]]
    assert listed == [alive]
    assert dead_arn not in sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].platform_endpoints
    # And the phone can register again later (a fresh endpoint)
    assert api.put("/v1/me/devices", {"platform": "apns", "token": "b" * 64}, user="bob").status_code == 201


def test_order_paid_pushes_buyer_and_seller(api: ApiClient) -> None:
    buyer, seller = _register(api, "buyer", "buyer-fcm", "fcm"), _register(api, "seller", "s" * 64)
    event = DomainEvent(
        event_id=stable_event_id("order.paid", "o1"),
        type="order.paid",
        occurred_at="2026-01-01T00:00:00.000Z",
        recipient_ids=["buyer", "seller"],
        data={"order_id": "o1"},
    )
    _deliver(api, event)
    (buyer_push,) = _pushes(_endpoint_arn("buyer", buyer))
    assert json.loads(buyer_push["GCM"])["fcmV1Message"]["message"]["data"]["order_id"] == "o1"
    (seller_push,) = _pushes(_endpoint_arn("seller", seller))
    assert json.loads(seller_push["APNS"])["order_id"] == "o1"


def test_malformed_and_unrelated_events_are_dropped_quietly(api: ApiClient) -> None:
    bob_ios = _register(api, "bob", "b" * 64)
    api.client.lambda_.invoke("notify_push_event", api.client.events.generate_sns_event(message="{not json"))
    unrelated = _message().model_copy(update={"type": "order.expired"})
    _deliver(api, unrelated)
    assert _pushes(_endpoint_arn("bob", bob_ios)) == []


def test_a_claim_checked_event_over_256_kib_is_pushed_like_an_inline_one(api: ApiClient) -> None:
    from chalicelib.core import clients
    from chalicelib.notify.publishing import encode

    # Given bob's phone, and a message event too big for SNS, published as a claim check
    bob_ios = _register(api, "bob", "b" * 64)
    big = _message("x" * 300_000)
    envelope = encode(big, dal.S3EventBodyStore(clients.s3(), get_settings().media_bucket).put)
    assert envelope.claim_check is not None and len(envelope.message) < 1_000
    # When the pointer arrives on the events topic
    sns_event = api.client.events.generate_sns_event(message=envelope.message)
    api.client.lambda_.invoke("notify_push_event", sns_event)
    # Then the subscriber read the body from S3 and pushed it
    (push,) = _pushes(_endpoint_arn("bob", bob_ios))
    assert json.loads(push["APNS"])["aps"]["alert"]["body"].startswith("xxxx")
