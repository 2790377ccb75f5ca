"""End to end on the local stack (issue 20): a user who has every kind of data deletes their
account; each row of the issue's table is then checked from the other users' side, and their
tokens get 401 ``account_deleted`` everywhere."""

from __future__ import annotations

import io
import json
import time
import urllib.request
import uuid
import zipfile
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from chalicelib.core import keys
from chalicelib.core.ddb import deserialize, serialize
from tests.support.local_stack import LocalStack

pytestmark = pytest.mark.e2e

ERASURE_DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def local_stack(own_stack: LocalStack) -> LocalStack:
    """A stack of this module's own: erasing and exporting 1,000 messages writes thousands of
    stream records, which would hold back later tests' events on the shared stack."""
    return own_stack


def _ok(result: tuple[int, Any, dict[str, str]], *statuses: int) -> Any:
    status, body, _ = result
    assert status in (statuses or (200, 201, 204)), (status, body)
    return body


def _verify_phone(local_stack: LocalStack, user: str, number: str) -> None:
    """Claim ``number`` as a person does: the SMS code (moto keeps it), then verify."""
    from local.sms import sent_sms

    verification = _ok(local_stack.request("PUT", "/v1/me/phone", {"phone": number}, user=user), 202)
    [text] = [t for t in sent_sms(local_stack.moto_url) if t["phone_number"] == number][-1:]
    body = {"verification_id": verification["verification_id"], "code": text["code"]}
    _ok(local_stack.request("POST", "/v1/me/phone/verify", body, user=user))


def _remaining(local_stack: LocalStack, stream_id: str, product_id: str) -> int:
    """What viewers see left of a pinned product (the sum over its stock shards)."""
    stream = _ok(local_stack.request("GET", f"/v1/streams/{stream_id}", user="e2e-viewer"))
    [shown] = [p for p in stream["pinned"] if p["product_id"] == product_id]
    return int(shown["remaining"])


def _item(local_stack: LocalStack, key: dict[str, str]) -> dict[str, Any] | None:
    client = local_stack.client("dynamodb")
    out = client.get_item(TableName=local_stack.env["TABLE_NAME"], Key=serialize(key), ConsistentRead=True)
    return deserialize(out.get("Item"))


def _upload(local_stack: LocalStack, user: str, content: bytes) -> str:
    upload = _ok(
        local_stack.request(
            "POST", "/v1/attachments", {"content_type": "image/png", "size_bytes": len(content)}, user=user
        )
    )
    s3 = local_stack.client("s3")
    fields = upload["upload"]["fields"] if "upload" in upload else upload["fields"]
    s3.put_object(
        Bucket=local_stack.env["MEDIA_BUCKET"], Key=fields["key"], Body=content, ContentType="image/png"
    )
    return str(upload["attachment_id"])


def _pay(local_stack: LocalStack, order_id: str) -> None:
    from local.pay import build_event, send

    order = _item(local_stack, keys.order(order_id)) or {}
    now_s = int(time.time())
    secret = local_stack.stack.overrides.get("PAYMENT_WEBHOOK_SECRET") or _stage_secret()
    status, body = send(
        local_stack.api_url + "/v1/payments/webhook",
        [s.strip() for s in secret.split(",") if s.strip()],
        build_event(order, "succeeded", now_s),
        now_s,
    )
    assert status == 200, body


def _stage_secret() -> str:
    from local.pay import stage_value

    return stage_value("PAYMENT_WEBHOOK_SECRET")


def _wait(predicate: Any, deadline_s: float, what: str) -> Any:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_deleted_account_is_erased_row_by_row_as_others_see_it(local_stack: LocalStack) -> None:
    run = uuid.uuid4().hex[:8]
    alice, bob, carol, dave, erin = (f"e2e-del-{n}-{run}" for n in ("alice", "bob", "carol", "dave", "erin"))
    req = local_stack.request
    # Given alice and bob are friends, carol follows alice, alice blocks dave, erin blocks alice
    for follower, followee in ((alice, bob), (bob, alice), (carol, alice), (alice, carol)):
        _ok(req("PUT", f"/v1/users/{followee}/follow", user=follower))
    _ok(req("PUT", f"/v1/users/{dave}/block", user=alice))
    _ok(req("PUT", f"/v1/users/{alice}/block", user=erin))
    # ... alice has a phone number, a device, a direct conversation with bob (a text and an
    # attachment from her, a reply from bob) and a group with bob and carol
    phone = f"+1415555{int(run, 16) % 10_000:04d}"
    _verify_phone(local_stack, alice, phone)
    _verify_phone(local_stack, bob, f"+1212555{int(run, 16) % 10_000:04d}")
    # ... carol's contacts match alice, alice's match bob
    _ok(req("POST", "/v1/me/contacts/match", {"phones": [phone]}, user=carol))
    _ok(
        req("POST", "/v1/me/contacts/match", {"phones": [f"+1212555{int(run, 16) % 10_000:04d}"]}, user=alice)
    )
    assert _item(local_stack, keys.contact_match(carol, alice)) is not None
    assert _item(local_stack, keys.contact_match(alice, bob)) is not None
    device = _ok(req("PUT", "/v1/me/devices", {"platform": "fcm", "token": f"fcm-del-{run}"}, user=alice))
    endpoint_arn = (_item(local_stack, keys.devices(alice)) or {})["devices"][device["device_id"]][
        "endpoint_arn"
    ]
    sns = local_stack.client("sns")
    assert sns.get_endpoint_attributes(EndpointArn=endpoint_arn)["Attributes"]["Token"] == f"fcm-del-{run}"
    direct = _ok(req("POST", "/v1/conversations", {"member_ids": [bob]}, user=alice))["conversation_id"]
    attachment = _upload(local_stack, alice, b"\x89PNG alice's photo")
    msgs = f"/v1/conversations/{direct}/messages"
    _ok(req("POST", msgs, {"client_message_id": "a1", "text": "secret from alice"}, user=alice))
    _ok(req("POST", msgs, {"client_message_id": "a2", "attachment_id": attachment}, user=alice))
    _ok(req("POST", msgs, {"client_message_id": "b1", "text": "bob's reply"}, user=bob))
    group = _ok(req("POST", "/v1/conversations", {"member_ids": [bob, carol], "title": "trio"}, user=alice))
    gid = group["conversation_id"]
    _ok(
        req(
            "POST",
            f"/v1/conversations/{gid}/messages",
            {"client_message_id": "g1", "text": "hi all"},
            user=alice,
        )
    )
    # ... and a group she already left, where her message stays
    left = _ok(req("POST", "/v1/conversations", {"member_ids": [bob, carol], "title": "old"}, user=alice))
    left_id = left["conversation_id"]
    _ok(
        req(
            "POST",
            f"/v1/conversations/{left_id}/messages",
            {"client_message_id": "o1", "text": "old news"},
            user=alice,
        )
    )
    _ok(req("DELETE", f"/v1/conversations/{left_id}", user=alice))
    # ... she chats in bob's live stream, where bob pinned a product; she holds a pending order
    # of 2 and a paid order of 1 there
    bob_stream = _ok(req("POST", "/v1/streams", {"title": "bob live"}, user=bob))["stream_id"]
    _ok(
        req(
            "POST",
            f"/v1/streams/{bob_stream}/chat",
            {"client_message_id": "c1", "text": "alice was here"},
            user=alice,
        )
    )
    _ok(
        req(
            "POST",
            f"/v1/streams/{bob_stream}/chat",
            {"client_message_id": "c2", "text": "bob says hi"},
            user=bob,
        )
    )
    product = _ok(
        req(
            "POST",
            "/v1/products",
            {"title": "mug", "price_cents": 900, "currency": "EUR", "stock": 10},
            user=bob,
        )
    )["product_id"]
    # One stock shard (a 250 orders/s peak): her 2-unit order must not depend on which shard her
    # id hashes to (a quantity larger than any one shard's remainder is sold_out by design)
    pin_body = {"product_id": product, "flash_stock": 5, "expected_peak_orders_per_second": 250}
    _ok(req("POST", f"/v1/streams/{bob_stream}/pins", pin_body, user=bob))
    paid = _ok(
        req(
            "POST",
            f"/v1/streams/{bob_stream}/orders",
            {"product_id": product, "quantity": 1},
            user=alice,
            headers={"Idempotency-Key": f"paid-{run}"},
        )
    )["order_id"]
    _pay(local_stack, paid)
    pending = _ok(
        req(
            "POST",
            f"/v1/streams/{bob_stream}/orders",
            {"product_id": product, "quantity": 2},
            user=alice,
            headers={"Idempotency-Key": f"pending-{run}"},
        )
    )["order_id"]
    remaining_before = _remaining(local_stack, bob_stream, product)
    # ... and she hosts a stream of her own with her product pinned
    alice_stream = _ok(req("POST", "/v1/streams", {"title": "alice live"}, user=alice))["stream_id"]
    her_product = _ok(
        req(
            "POST",
            "/v1/products",
            {"title": "art", "price_cents": 500, "currency": "EUR", "stock": 4},
            user=alice,
        )
    )["product_id"]
    _ok(
        req(
            "POST",
            f"/v1/streams/{alice_stream}/pins",
            {"product_id": her_product, "flash_stock": 3},
            user=alice,
        )
    )
    _wait(
        lambda: any(
            m.get("text") == "alice was here"
            for m in _ok(req("GET", f"/v1/streams/{bob_stream}/chat", user=bob))["items"]
        ),
        20,
        "alice's chat message in bob's snapshot",
    )

    # ... and an open WebSocket
    status, realtime, _ = req("GET", "/v1/realtime", user=alice)
    socket = connect(f"{realtime['url']}/?token={local_stack.token(alice)}", open_timeout=5)

    # When alice deletes her account
    status, body, _ = req("DELETE", "/v1/me", {"confirm": "delete"}, user=alice)
    assert (status, body["code"]) == (400, "validation_error")
    deletion = _ok(req("DELETE", "/v1/me", {"confirm": "DELETE"}, user=alice), 202)
    assert deletion["status"] == "pending" and deletion["deletion_id"]

    # Then her tokens get 401 account_deleted at once, on every kind of route
    for method, path, payload in (
        ("GET", "/v1/me", None),
        ("GET", f"/v1/conversations/{direct}/messages", None),
        ("POST", msgs, {"client_message_id": "late", "text": "still here?"}),
        ("PUT", f"/v1/users/{erin}/follow", None),
        ("GET", "/v1/me/devices", None),
        ("POST", "/v1/me/export", None),
        ("DELETE", "/v1/me", {"confirm": "DELETE"}),
    ):
        status, body, _ = req(method, path, payload, user=alice)
        assert (status, body["code"]) == (401, "account_deleted"), (method, path)

    # And the erasure finishes within 60 s
    started = time.monotonic()
    _wait(
        lambda: (_item(local_stack, keys.account_deletion(alice)) or {}).get("status") == "done",
        ERASURE_DEADLINE_S,
        "the erasure",
    )
    print(f"erasure finished {time.monotonic() - started:.1f} s after the DELETE")

    # Her socket was closed by the erasure, and a new one is refused at $connect
    with pytest.raises(ConnectionClosed):
        socket.recv(timeout=5)
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{realtime['url']}/?token={local_stack.token(alice)}", open_timeout=5)
    assert refused.value.response.status_code == 401
    # Social graph: counters of the others are exact again, blocks gone both ways
    me_bob = _ok(req("GET", "/v1/me", user=bob))
    assert (me_bob["followers_count"], me_bob["following_count"], me_bob["friends_count"]) == (0, 0, 0)
    me_carol = _ok(req("GET", "/v1/me", user=carol))
    assert (me_carol["followers_count"], me_carol["following_count"]) == (0, 0)
    assert _ok(req("GET", "/v1/me/blocks", user=erin))["items"] == []
    assert _item(local_stack, keys.block(alice, dave)) is None
    # Profile and phone erased; the deletion marker stays
    assert _item(local_stack, keys.profile(alice)) is None
    assert _item(local_stack, keys.phone_owner(alice)) is None
    # Contact matches erased both ways
    assert _item(local_stack, keys.contact_match(carol, alice)) is None
    assert _item(local_stack, keys.contact_match(alice, bob)) is None
    # The direct conversation stays for bob, with tombstones and alice shown as deleted
    history = _ok(req("GET", msgs, user=bob))["items"]
    by_sender = {(m["sender_id"], m["type"]) for m in history}
    assert by_sender == {(alice, "deleted"), (bob, "text")}
    assert all(m.get("text") is None for m in history if m["sender_id"] == alice)
    members = _ok(req("GET", f"/v1/conversations/{direct}", user=bob))["members"]
    assert {"user_id": alice, "deleted": True} in members
    # Her message in the group she had left is a tombstone too
    old_history = _ok(req("GET", f"/v1/conversations/{left_id}/messages", user=bob))["items"]
    assert [(m["sender_id"], m["type"]) for m in old_history] == [(alice, "deleted")]
    # She left the group
    group_members = {m["user_id"] for m in _ok(req("GET", f"/v1/conversations/{gid}", user=bob))["members"]}
    assert group_members == {bob, carol}
    # No S3 object (no version) left under her attachment prefix
    s3 = local_stack.client("s3")
    left = s3.list_object_versions(Bucket=local_stack.env["MEDIA_BUCKET"], Prefix=f"attachments/{alice}/")
    assert not left.get("Versions") and not left.get("DeleteMarkers")
    # Her SNS platform endpoint is gone, and so is her device registration
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_endpoint_attributes(EndpointArn=endpoint_arn)
    assert _item(local_stack, keys.devices(alice)) is None
    # Live: her messages are gone from bob's snapshot, her own stream ended
    _wait(
        lambda: (
            not any(
                m.get("sender_id") == alice
                for m in _ok(req("GET", f"/v1/streams/{bob_stream}/chat", user=bob))["items"]
            )
        ),
        20,
        "alice's chat message to leave bob's snapshot",
    )
    assert _ok(req("GET", f"/v1/streams/{alice_stream}", user=bob))["status"] == "ended"
    # Products: hers is unlisted, its pin removed with the stock returned
    assert req("GET", f"/v1/products/{her_product}", user=bob)[0] == 404
    assert (_item(local_stack, keys.pin(alice_stream, her_product)) or {}).get("status") != "active"
    assert (_item(local_stack, keys.product(her_product)) or {})["stock"] == 4
    # Orders: the pending one cancelled with its 2 units back on bob's pin; the paid one kept,
    # pseudonymised
    assert (_item(local_stack, keys.order(pending)) or {})["status"] == "cancelled"
    assert _remaining(local_stack, bob_stream, product) == remaining_before + 2
    paid_order = _item(local_stack, keys.order(paid)) or {}
    assert paid_order["status"] == "paid"
    assert paid_order["buyer_id"].startswith("deleted-") and alice not in json.dumps(paid_order)
    # A new token for the id still gets 401; the marker stays
    assert req("GET", "/v1/me", user=alice)[1]["code"] == "account_deleted"
    assert (_item(local_stack, keys.account_deletion(alice)) or {})["status"] == "done"


def test_an_export_archive_holds_the_users_messages_and_attachments(local_stack: LocalStack) -> None:
    run = uuid.uuid4().hex[:8]
    frank, gina = f"e2e-exp-frank-{run}", f"e2e-exp-gina-{run}"
    req = local_stack.request
    # Given frank and gina are friends with a conversation holding a text and a photo
    for follower, followee in ((frank, gina), (gina, frank)):
        _ok(req("PUT", f"/v1/users/{followee}/follow", user=follower))
    cid = _ok(req("POST", "/v1/conversations", {"member_ids": [gina]}, user=frank))["conversation_id"]
    photo = _upload(local_stack, frank, b"\x89PNG frank's photo")
    _ok(
        req(
            "POST",
            f"/v1/conversations/{cid}/messages",
            {"client_message_id": "t", "text": "export me"},
            user=frank,
        )
    )
    _ok(
        req(
            "POST",
            f"/v1/conversations/{cid}/messages",
            {"client_message_id": "p", "attachment_id": photo},
            user=frank,
        )
    )
    _ok(req("PUT", "/v1/me/devices", {"platform": "fcm", "token": f"fcm-exp-{run}"}, user=frank))
    # When frank asks for an export
    started = _ok(req("POST", "/v1/me/export", user=frank), 202)
    assert started["status"] == "pending"
    export_id = started["export_id"]
    # Then a second one within 24 h is refused with Retry-After, and gina cannot see his
    status, body, headers = req("POST", "/v1/me/export", user=frank)
    assert (status, body["code"]) == (429, "rate_limited") and int(headers["Retry-After"]) > 80_000
    assert req("GET", f"/v1/me/exports/{export_id}", user=gina)[0] == 404
    # And it becomes ready within 60 s with a download URL for a zip holding his data
    ready = _wait(
        lambda: (lambda b: b if b["status"] == "ready" else None)(
            _ok(req("GET", f"/v1/me/exports/{export_id}", user=frank))
        ),
        60,
        "the export",
    )
    assert ready["download_url"] and ready["expires_at"]
    with urllib.request.urlopen(ready["download_url"], timeout=10) as response:
        archive = zipfile.ZipFile(io.BytesIO(response.read()))
    names = set(archive.namelist())
    assert {"profile.json", "following.json", "conversations.json", "orders.json", "devices.json"} <= names
    conversations = json.loads(archive.read("conversations.json"))
    texts = [m.get("text") for c in conversations for m in c["messages"]]
    assert "export me" in texts
    assert archive.read(f"attachments/{photo}") == b"\x89PNG frank's photo"

    # And his phone got the push
    def pushed() -> list[dict[str, Any]]:
        from local.sms import sent_pushes

        messages = sent_pushes(local_stack.moto_url, f"fcm-exp-{run}")
        return [m for m in messages if "Your data is ready to download" in json.dumps(m)]

    assert _wait(pushed, 20, "the export_ready push")


def test_after_delete_every_authenticated_route_answers_401_account_deleted(local_stack: LocalStack) -> None:
    from local.openapi import build_spec

    # Given a user who deleted their account
    user = f"e2e-del-routes-{uuid.uuid4().hex[:8]}"
    _ok(local_stack.request("DELETE", "/v1/me", {"confirm": "DELETE"}, user=user), 202)
    # When they call every route of the API that takes a token (path parameters filled in)
    spec = build_spec()
    checked = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == []:
                continue  # public: health, API docs, payment webhook
            concrete = path
            for name in [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"]:
                concrete = concrete.replace("{" + name + "}", "01JDQ3Z5XG8V0M6K2T1R9YB4CN")
            status, body, _ = local_stack.request(method.upper(), concrete, {}, user=user)
            # Then each one refuses them before doing anything
            assert (status, (body or {}).get("code")) == (401, "account_deleted"), (
                method,
                path,
                status,
                body,
            )
            checked.append((method, path))
    assert len(checked) >= 50


def test_a_user_with_1000_messages_is_exported_and_erased_within_60_s_each(local_stack: LocalStack) -> None:
    from chalicelib.core.ddb import batch_put
    from chalicelib.core.ids import new_ulid

    run = uuid.uuid4().hex[:8]
    heavy, peer = f"e2e-big-{run}", f"e2e-big-peer-{run}"
    req = local_stack.request
    # Given a user with 1,000 messages in a direct conversation (seeded straight into the table)
    for follower, followee in ((heavy, peer), (peer, heavy)):
        _ok(req("PUT", f"/v1/users/{followee}/follow", user=follower))
    cid = _ok(req("POST", "/v1/conversations", {"member_ids": [peer]}, user=heavy))["conversation_id"]
    base = int(time.time() * 1000) - 3_600_000
    messages = []
    for i in range(1000):
        mid = new_ulid(base + i)
        messages.append(
            {
                **keys.message(cid, mid),
                "entity": "message",
                "message_id": mid,
                "conversation_id": cid,
                "sender_id": heavy,
                "type": "text",
                "text": f"message {i} " + "x" * 80,
                "sent_at": "2026-12-01T00:00:00.000Z",
            }
        )
    batch_put(local_stack.client("dynamodb"), local_stack.env["TABLE_NAME"], messages)
    # When they export their data, Then it is ready within 60 s and holds the 1,000 messages
    started = time.monotonic()
    export_id = _ok(req("POST", "/v1/me/export", user=heavy), 202)["export_id"]
    ready = _wait(
        lambda: (lambda b: b if b["status"] == "ready" else None)(
            _ok(req("GET", f"/v1/me/exports/{export_id}", user=heavy))
        ),
        60,
        "the export",
    )
    export_s = time.monotonic() - started
    with urllib.request.urlopen(ready["download_url"], timeout=10) as response:
        archive = zipfile.ZipFile(io.BytesIO(response.read()))
    conversations = json.loads(archive.read("conversations.json"))
    assert sum(len(c["messages"]) for c in conversations) == 1000
    # When they delete the account, Then the erasure is done within 60 s: 1,000 tombstones
    started = time.monotonic()
    _ok(req("DELETE", "/v1/me", {"confirm": "DELETE"}, user=heavy), 202)
    _wait(
        lambda: (_item(local_stack, keys.account_deletion(heavy)) or {}).get("status") == "done",
        60,
        "the erasure",
    )
    erase_s = time.monotonic() - started
    history = []
    cursor = ""
    while True:
        page = _ok(req("GET", f"/v1/conversations/{cid}/messages?limit=100{cursor}", user=peer))
        history += page["items"]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert len(history) == 1000 and {m["type"] for m in history} == {"deleted"}
    print(f"1,000 messages: export ready in {export_s:.1f} s, erasure done in {erase_s:.1f} s")
