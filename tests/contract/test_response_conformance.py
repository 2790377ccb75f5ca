"""Every operation's replies conform to the spec: a scripted walk through the whole API (happy
paths and typical errors) with each response validated against the schema the spec declares for
its method, path and status. Deterministic, unlike the fuzzer, which rarely guesses real ids."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from local import openapi
from tests.conftest import ApiClient, body_of
from tests.support import stripe_events

SPEC = openapi.load_yaml()


def _routes() -> dict[tuple[str, str], openapi.Route]:
    from app import app

    return openapi.app_routes(app)


ROUTES = _routes()


class CheckedApi:
    """An :class:`ApiClient` that validates every reply against the spec (and records coverage)."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.seen: set[tuple[str, str, int]] = set()
        resource = Resource.from_contents(SPEC, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource("urn:spec", resource)

    def _template(self, method: str, path: str) -> str:
        bare = path.split("?", 1)[0]
        for template, item in SPEC["paths"].items():
            if method.lower() not in item:
                continue
            parts, actual = template.split("/"), bare.split("/")
            if len(parts) == len(actual) and all(
                p.startswith("{") or p == a for p, a in zip(parts, actual, strict=True)
            ):
                return template
        raise AssertionError(f"{method} {bare} is not in the spec")

    def _schema_ref(self, value: Any) -> Any:
        if isinstance(value, dict):
            if "$ref" in value and value["$ref"].startswith("#/components/responses/"):
                return self._schema_ref(SPEC["components"]["responses"][value["$ref"].rsplit("/", 1)[1]])
            return {
                k: ("urn:spec" + v if k == "$ref" and isinstance(v, str) and v.startswith("#/") else v)
                for k, v in value.items()
            }
        return value

    def call(self, method: str, path: str, body: Any = None, *, expect: int, **kw: Any) -> Any:
        """Send, assert the status, validate the reply against the spec; returns the JSON body."""
        response = self.api.request(method, path, body, **kw)
        payload = body_of(response) if response.body else None
        assert response.status_code == expect, (method, path, payload)
        template = self._template(method, path)
        declared = SPEC["paths"][template][method.lower()]["responses"]
        assert str(expect) in declared, f"{method} {template} answered undocumented {expect}"
        spec_response = declared[str(expect)]
        if "$ref" in spec_response:
            spec_response = SPEC["components"]["responses"][spec_response["$ref"].rsplit("/", 1)[1]]
        media = spec_response.get("content", {}).get("application/json")
        if expect == 204:
            assert not response.body
        elif media is not None:
            schema = self._schema_ref(media["schema"])
            validator = Draft202012Validator(
                schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(payload)]
            assert errors == [], (method, template, expect, payload)
            doc = ROUTES[(method, template)].doc
            if doc is not None and doc.response is not None and expect < 300:
                # And the route's declared model describes it (the view's dict validates into it)
                openapi.load_model(doc.response).model_validate(payload)
        self.seen.add((method, template, expect))
        return payload


@pytest.fixture
def checked(api: ApiClient) -> Iterator[CheckedApi]:
    """The checked client."""
    yield CheckedApi(api)


def _publish_video(api: ApiClient, video_id: str, author: str, visibility: str) -> None:
    from app import app

    message = {
        "type": "video.published",
        "video_id": video_id,
        "author_id": author,
        "title": f"{video_id} title",
        "visibility": visibility,
        "thumbnail_key": f"thumbs/{video_id}.jpg",
        "occurred_at": "2026-11-28T01:02:03.456Z",
    }
    event = api.client.events.generate_sns_event(message=json.dumps(message), subject="video")
    app.handler_map["share_video_events"](event, None)


def _signed(secret: str, body: dict[str, Any]) -> tuple[str, str]:
    raw = stripe_events.raw(body)
    return raw.decode(), stripe_events.signature(raw, secret.split(",")[0])


def test_every_operation_replies_as_the_spec_says(checked: CheckedApi, api: ApiClient) -> None:
    c = checked
    a, b, d = "rc-alice", "rc-bob", "rc-dave"
    # --- health, docs, social
    c.call("GET", "/v1/health", expect=200)
    c.call("GET", "/v1/openapi.json", expect=200)
    c.call("GET", "/v1/me", expect=401)
    c.call("GET", "/v1/me", user=a, expect=200)
    c.call("PATCH", "/v1/me/settings", {"dm_policy": "everyone"}, user=a, expect=200)
    c.call("PATCH", "/v1/me/settings", {}, user=a, expect=400)
    c.call("PUT", f"/v1/users/{b}/follow", user=a, expect=204)
    c.call("PUT", f"/v1/users/{a}/follow", user=b, expect=204)
    c.call("PUT", f"/v1/users/{a}/follow", user=d, expect=204)
    c.call("GET", f"/v1/users/{b}/relationship", user=a, expect=200)
    for listing in ["friends", "following", "followers", "blocks"]:
        c.call("GET", f"/v1/me/{listing}?limit=5", user=a, expect=200)
    c.call("GET", "/v1/me/friends?cursor=forged", user=a, expect=400)
    started = c.call("PUT", "/v1/me/phone", {"phone": "+14155550123"}, user=b, expect=202)
    wrong = {"verification_id": started["verification_id"], "code": "not-it"}
    c.call("POST", "/v1/me/phone/verify", wrong, user=b, expect=400)
    c.call("POST", "/v1/me/phone/verify", {"verification_id": "nope", "code": "123456"}, user=b, expect=404)
    from tests.integration.social.test_contacts_api import last_code

    right = {"verification_id": started["verification_id"], "code": last_code("+14155550123")}
    c.call("POST", "/v1/me/phone/verify", right, user=b, expect=204)
    c.call("POST", "/v1/me/contacts/match", {"phones": ["+14155550123", "nope"]}, user=a, expect=200)
    c.call("GET", "/v1/me/suggestions?limit=5", user=d, expect=200)
    c.call("DELETE", "/v1/me/phone", user=b, expect=204)
    c.call("PUT", "/v1/users/rc-eve/block", user=a, expect=204)
    c.call("DELETE", "/v1/users/rc-eve/block", user=a, expect=204)
    c.call("DELETE", f"/v1/users/{a}/follow", user=d, expect=204)
    # --- direct messages
    conv = c.call("POST", "/v1/conversations", {"member_ids": [b]}, user=a, expect=201)
    cid = conv["conversation_id"]
    c.call("POST", "/v1/conversations", {"member_ids": [b]}, user=a, expect=200)
    group = c.call("POST", "/v1/conversations", {"member_ids": [b, d], "title": "g"}, user=a, expect=201)
    c.call("POST", f"/v1/conversations/{group['conversation_id']}/members", {"user_ids": ["rc-fay"]},
           user=a, expect=200)  # fmt: skip
    c.call("DELETE", f"/v1/conversations/{group['conversation_id']}/members/rc-fay", user=a, expect=204)
    msg = c.call("POST", f"/v1/conversations/{cid}/messages", {"client_message_id": "m1", "text": "hi"},
                 user=a, expect=201)  # fmt: skip
    c.call("POST", f"/v1/conversations/{cid}/messages", {"client_message_id": "m1", "text": "hi"},
           user=a, expect=200)  # fmt: skip
    c.call("POST", f"/v1/conversations/{cid}/messages", {"client_message_id": "m1", "text": "other"},
           user=a, expect=422)  # fmt: skip
    c.call("GET", f"/v1/conversations/{cid}/messages?limit=10", user=b, expect=200)
    c.call("GET", f"/v1/conversations/{cid}/messages?after={msg['message_id']}", user=b, expect=200)
    c.call("POST", f"/v1/conversations/{cid}/read", {"message_id": msg["message_id"]}, user=b, expect=204)
    c.call("GET", f"/v1/conversations/{cid}", user=b, expect=200)
    c.call("GET", f"/v1/conversations/{cid}", user=d, expect=404)
    c.call("PUT", f"/v1/conversations/{cid}/mute", {"muted": True}, user=b, expect=200)
    c.call("GET", "/v1/conversations?folder=inbox", user=b, expect=200)
    c.call("GET", "/v1/conversations?folder=requests", user=b, expect=200)
    thumbs = f"/v1/conversations/{cid}/messages/{msg['message_id']}/reactions/%F0%9F%91%8D%F0%9F%8F%BD"
    c.call("PUT", thumbs, user=b, expect=204)
    c.call("PUT", f"/v1/conversations/{cid}/messages/{msg['message_id']}/reactions/ab", user=b, expect=400)
    c.call("PUT", thumbs, user=d, expect=404)
    reply = c.call("POST", f"/v1/conversations/{cid}/messages",
                   {"client_message_id": "r1", "text": "re", "reply_to": msg["message_id"]}, user=b,
                   expect=201)  # fmt: skip
    gid = group["conversation_id"]
    forward = {"source": {"conversation_id": cid, "message_id": msg["message_id"]}, "conversation_ids": [gid]}
    c.call("POST", "/v1/messages/forward", forward, user=a, headers={"Idempotency-Key": "f-1"}, expect=201)
    c.call("POST", "/v1/messages/forward", forward, user=d, headers={"Idempotency-Key": "f-2"}, expect=404)
    c.call("GET", f"/v1/conversations/{cid}/messages?limit=10", user=a, expect=200)
    c.call("DELETE", thumbs, user=b, expect=204)
    c.call("PATCH", "/v1/me/settings", {"show_activity_status": False}, user=d, expect=200)
    c.call("GET", f"/v1/conversations/{gid}", user=a, expect=200)
    c.call("DELETE", f"/v1/conversations/{cid}/messages/{msg['message_id']}", user=b, expect=403)
    c.call("DELETE", f"/v1/conversations/{cid}/messages/{msg['message_id']}", user=a, expect=204)
    c.call("PUT", thumbs, user=b, expect=409)
    assert (
        c.call("GET", f"/v1/conversations/{cid}/messages", user=b, expect=200)["items"][0]["reply_to"]
        == {
            "message_id": msg["message_id"],
            "deleted": True,
        }
        and reply["reply_to"]["text"] == "hi"
    )
    req = c.call("POST", "/v1/conversations", {"member_ids": ["rc-gil"]}, user=a, expect=201)
    c.call("POST", f"/v1/conversations/{req['conversation_id']}/accept", user="rc-gil", expect=200)
    c.call("DELETE", f"/v1/conversations/{req['conversation_id']}", user="rc-gil", expect=204)
    c.call("POST", "/v1/attachments", {"content_type": "image/png", "size_bytes": 1000}, user=a, expect=201)
    c.call("POST", "/v1/attachments", {"content_type": "video/mp4", "size_bytes": 10**9}, user=a, expect=413)
    c.call("POST", "/v1/reports", {"target_type": "message", "target_id": msg["message_id"],
           "conversation_id": cid, "reason": "spam"}, user=b, expect=201)  # fmt: skip
    # --- share
    _publish_video(api, "rc-video", "rc-carol", "public")
    c.call("GET", "/v1/videos/rc-video", user=a, expect=200)
    c.call("GET", "/v1/videos/rc-missing", user=a, expect=404)
    share_headers = {"Idempotency-Key": "k-1"}
    c.call("POST", "/v1/videos/rc-video/shares", {"recipient_ids": [b, "rc-stranger"], "note": "look"},
           user=a, headers=share_headers, expect=201)  # fmt: skip
    c.call("POST", "/v1/videos/rc-video/shares", {"recipient_ids": [b]}, user=a, expect=400)
    c.call("POST", "/v1/videos/rc-video/shares", {"recipient_ids": [d], "conversation_ids": [gid]},
           user=a, headers={"Idempotency-Key": "k-2"}, expect=201)  # fmt: skip
    c.call("GET", f"/v1/conversations/{cid}/messages", user=b, expect=200)
    c.call("GET", "/v1/me/share-suggestions?limit=5", user=a, expect=200)
    # --- notify, realtime
    dev = c.call("PUT", "/v1/me/devices", {"platform": "fcm", "token": "tok-1"}, user=a, expect=201)
    c.call("PUT", "/v1/me/devices", {"platform": "fcm", "token": "tok-1"}, user=a, expect=200)
    c.call("GET", "/v1/me/devices", user=a, expect=200)
    c.call("DELETE", f"/v1/me/devices/{dev['device_id']}", user=a, expect=204)
    c.call("GET", "/v1/realtime", user=a, expect=503)
    # --- live
    stream = c.call("POST", "/v1/streams", {"title": "show"}, user=a, expect=201)
    sid = stream["stream_id"]
    c.call("PATCH", f"/v1/streams/{sid}/settings", {"slow_mode_seconds": 0, "banned_words": ["Boo"]},
           user=a, expect=200)  # fmt: skip
    c.call("PATCH", f"/v1/streams/{sid}/settings", {"room_cap": 50}, user=b, expect=403)
    c.call("PUT", f"/v1/streams/{sid}/moderators/{b}", user=a, expect=204)
    c.call("PUT", f"/v1/streams/{sid}/bans/{d}", user=b, expect=204)
    c.call("POST", f"/v1/streams/{sid}/chat", {"client_message_id": "c1", "text": "hi"}, user=d, expect=403)
    c.call("DELETE", f"/v1/streams/{sid}/bans/{d}", user=b, expect=204)
    c.call("DELETE", f"/v1/streams/{sid}/moderators/{b}", user=a, expect=204)
    chat = c.call("POST", f"/v1/streams/{sid}/chat", {"client_message_id": "c1", "text": "hi"}, user=d,
                  expect=201)  # fmt: skip
    c.call("POST", f"/v1/streams/{sid}/chat", {"client_message_id": "c2", "text": "boo!"}, user=d, expect=422)
    c.call("GET", f"/v1/streams/{sid}/chat", user=b, expect=200)
    c.call("DELETE", f"/v1/streams/{sid}/chat/{chat['message_id']}", user=a, expect=204)
    # --- checkout
    product = c.call("POST", "/v1/products", {"title": "Cap", "price_cents": 1500, "currency": "EUR",
                     "stock": 5}, user=a, expect=201)  # fmt: skip
    pid = product["product_id"]
    c.call("GET", f"/v1/products/{pid}", user=b, expect=200)
    c.call("PATCH", f"/v1/products/{pid}", {"stock": 6}, user=a, expect=200)
    c.call("PATCH", f"/v1/products/{pid}", {"stock": 6}, user=b, expect=403)
    c.call("POST", f"/v1/streams/{sid}/pins", {"product_id": pid, "flash_price_cents": 999, "flash_stock": 2,
           "per_user_limit": 1}, user=a, expect=201)  # fmt: skip
    c.call("GET", f"/v1/streams/{sid}", user=b, expect=200)
    order_headers = {"Idempotency-Key": "o-1"}
    order = c.call("POST", f"/v1/streams/{sid}/orders", {"product_id": pid, "quantity": 1}, user=b,
                   headers=order_headers, expect=201)  # fmt: skip
    c.call("POST", f"/v1/streams/{sid}/orders", {"product_id": pid, "quantity": 1}, user=b,
           headers={"Idempotency-Key": "o-2"}, expect=409)  # fmt: skip
    c.call("GET", f"/v1/orders/{order['order_id']}", user=a, expect=200)
    c.call("GET", "/v1/me/orders?role=seller", user=a, expect=200)
    from chalicelib.core.settings import get_settings

    intent = stripe_events.payment_intent(
        order["payment"]["payment_intent_id"],
        order["order_id"],
        order["amount_cents"],
        order["currency"].lower(),
    )
    event = stripe_events.event("payment_intent.succeeded", intent, event_id="evt_rc_1")
    raw, signature = _signed(get_settings().payment_webhook_secret, event)
    response = api.request("POST", "/v1/payments/webhook", raw=raw, headers={"Stripe-Signature": signature})
    assert response.status_code == 200 and body_of(response)["result"] == "paid"
    c.seen.add(("POST", "/v1/payments/webhook", 200))
    c.call("POST", "/v1/payments/webhook", {"id": "evt_x", "type": "x"}, expect=400)
    second = c.call("POST", f"/v1/streams/{sid}/orders", {"product_id": pid, "quantity": 1}, user=d,
                    headers={"Idempotency-Key": "o-3"}, expect=201)  # fmt: skip
    c.call("POST", f"/v1/orders/{second['order_id']}/cancel", user=d, expect=200)
    c.call("POST", f"/v1/orders/{order['order_id']}/refund", user=b, expect=403)
    c.call("POST", f"/v1/orders/{order['order_id']}/refund", user=a, expect=200)
    c.call("POST", f"/v1/orders/{second['order_id']}/refund", user=a, expect=409)
    c.call("GET", "/v1/me/orders", user=d, expect=200)
    c.call("DELETE", f"/v1/streams/{sid}/pins/{pid}", user=a, expect=204)
    c.call("POST", f"/v1/streams/{sid}/end", user=a, expect=200)
    c.call("POST", f"/v1/streams/{sid}/chat", {"client_message_id": "c9", "text": "late"}, user=d, expect=409)

    # --- account (issue 20)
    export = c.call("POST", "/v1/me/export", user=b, expect=202)
    c.call("POST", "/v1/me/export", user=b, expect=429)
    c.call("GET", f"/v1/me/exports/{export['export_id']}", user=b, expect=200)
    c.call("GET", f"/v1/me/exports/{export['export_id']}", user=a, expect=404)
    zed = "rc-zed"
    c.call("PUT", f"/v1/users/{b}/follow", user=zed, expect=204)
    c.call("PUT", f"/v1/users/{zed}/follow", user=b, expect=204)
    zconv = c.call("POST", "/v1/conversations", {"member_ids": [b]}, user=zed, expect=201)
    c.call("DELETE", "/v1/me", {"confirm": "yes"}, user=zed, expect=400)
    c.call("DELETE", "/v1/me", {"confirm": "DELETE"}, user=zed, expect=202)
    c.call("GET", "/v1/me", user=zed, expect=401)
    from chalicelib.account import dal as account_dal
    from chalicelib.account import logic as account_logic

    account_logic.erase(account_dal.store(), account_dal.erasure(), zed, secret="s" * 8,
                        now_ms=lambda: int(time.time() * 1000), sleep=lambda _: None)  # fmt: skip
    seen_by_b = c.call("GET", f"/v1/conversations/{zconv['conversation_id']}", user=b, expect=200)
    assert {"user_id": zed, "deleted": True} in seen_by_b["members"]
    c.call("GET", "/v1/conversations?folder=inbox", user=b, expect=200)

    # Then every operation of the spec was exercised with a 2xx reply
    ok = {(m, p) for m, p, s in c.seen if s < 300}
    all_ops = {(m.upper(), p) for p, item in SPEC["paths"].items() for m in item}
    missing = all_ops - ok - {("GET", "/v1/docs"), ("GET", "/v1/docs/assets/{name}"), ("GET", "/v1/realtime")}
    assert missing == set()
