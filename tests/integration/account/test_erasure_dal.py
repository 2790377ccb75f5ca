"""Integration (moto + chalice.test.Client): the real erasure over the owning domains' dal,
killed half-way through the social graph, resumes and leaves every counter exact."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.account import dal, logic
from chalicelib.core import keys
from chalicelib.core.ddb import deserialize, serialize
from tests.conftest import ApiClient, body_of


class KilledError(Exception):
    pass


class KillAfter:
    """The real erasure, killed after ``n`` unfollows (the Lambda timing out mid-step)."""

    def __init__(self, inner: dal.DomainErasure, n: int) -> None:
        self._inner = inner
        self._left = n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def unfollow(self, actor: str, target: str) -> None:
        if self._left == 0:
            raise KilledError("killed")
        self._left -= 1
        self._inner.unfollow(actor, target)


def _counts(api: ApiClient, user: str) -> tuple[int, int, int]:
    me = body_of(api.get("/v1/me", user=user))
    return me["followers_count"], me["following_count"], me["friends_count"]


def _get(key: dict[str, str]) -> dict[str, Any] | None:
    from chalicelib.core import clients
    from chalicelib.core.settings import get_settings

    out = clients.dynamodb().get_item(
        TableName=get_settings().table_name, Key=serialize(key), ConsistentRead=True
    )
    return deserialize(out.get("Item"))


def _sell(api: ApiClient, seller: str, buyers: tuple[str, ...]) -> list[str]:
    """``seller`` pins a product on a live stream and each buyer orders one and pays it."""
    from tests.integration.checkout.conftest import (
        Sale,
        create_product,
        order,
        pin,
        start_stream,
        webhook,
    )
    from tests.support.clock import Clock

    stream_id = start_stream(api, seller)
    product_id = create_product(api, seller, stock=len(buyers))
    assert pin(api, seller, stream_id, product_id).status_code == 201
    placed = [order(api, Sale(stream_id, product_id), buyer) for buyer in buyers]
    assert [p.status_code for p in placed] == [201] * len(buyers)
    for p in placed:
        assert body_of(webhook(api, Clock(0), body_of(p)))["result"] == "paid"
    return [str(body_of(p)["order_id"]) for p in placed]


def _make_legacy(seller: str, order_id: str) -> None:
    """Move an order's sale pointer to where it lived before the sharding (``USER#seller``)."""
    from chalicelib.core import clients
    from chalicelib.core.settings import get_settings

    client, table = clients.dynamodb(), get_settings().table_name
    pointer = _get(keys.sale(seller, order_id))
    assert pointer is not None
    client.delete_item(TableName=table, Key=serialize(keys.sale(seller, order_id)))
    client.put_item(TableName=table, Item=serialize({**pointer, **keys.legacy_sale(seller, order_id)}))


def _erase(erasure: Any) -> list[str]:
    return logic.erase(
        dal.store(), erasure, "alice", secret="s" * 8, now_ms=lambda: 10**13, sleep=lambda s: None
    )


def test_an_erasure_killed_half_way_resumes_and_corrects_counters_exactly(api: ApiClient) -> None:
    # Given alice follows bob, carol and dave, and all three follow her back; erin follows her
    others = ("bob", "carol", "dave")
    for other in others:
        assert api.put(f"/v1/users/{other}/follow", user="alice").status_code == 204
        assert api.put("/v1/users/alice/follow", user=other).status_code == 204
    assert api.put("/v1/users/alice/follow", user="erin").status_code == 204
    assert api.put("/v1/users/bob/follow", user="erin").status_code == 204
    assert _counts(api, "bob") == (2, 1, 1)
    # ... she sold a mug to bob and one to carol (paid): one pointer in its shard partition
    # USER#alice#SALES#<n>, the other still in the legacy USER#alice (written before sharding)
    sold = _sell(api, "alice", ("bob", "carol"))
    _make_legacy("alice", sold[1])
    exported = dal.export_reader().collect("alice")["orders"]
    assert sorted(o["order_id"] for o in exported) == sorted(sold)
    # ... and she deletes her account
    response = api.delete("/v1/me", {"confirm": "DELETE"}, user="alice")
    assert response.status_code == 202
    # When the erasure is killed after 2 of its 7 unfollows
    with pytest.raises(KilledError):
        _erase(KillAfter(dal.erasure(), 2))
    marker = dal.store().deletion("alice")
    assert marker is not None and marker.status != "done" and "graph" not in marker.done_steps
    # And the stream retries it (twice: a replay of a finished erasure is a no-op)
    assert "graph" in _erase(dal.erasure())
    assert _erase(dal.erasure()) == []
    # Then every other user's counters are exact: only the edges not involving alice remain
    assert _counts(api, "bob") == (1, 0, 0)
    for other in ("carol", "dave"):
        assert _counts(api, other) == (0, 0, 0)
    assert _counts(api, "erin") == (0, 1, 0)
    # And nothing is left in her partition; the marker stays, done
    from chalicelib.core import clients
    from chalicelib.core.settings import get_settings

    out = clients.dynamodb().query(
        TableName=get_settings().table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=serialize({":pk": keys.user_pk("alice")}),
    )
    assert out["Items"] == []
    # And her sales are kept under a pseudonym, with no pointer left in any sale partition
    for order_id in sold:
        kept = _get(keys.order(order_id)) or {}
        assert kept["seller_id"] == logic.pseudonym("s" * 8, "alice")
        assert _get(keys.sale("alice", order_id)) is None
        assert _get(keys.legacy_sale("alice", order_id)) is None
    for pk in keys.sale_partitions("alice"):
        assert not clients.dynamodb().query(
            TableName=get_settings().table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=serialize({":pk": pk}),
        )["Items"]
    stored = deserialize(
        clients.dynamodb().get_item(
            TableName=get_settings().table_name, Key=serialize(keys.account_deletion("alice"))
        )["Item"]
    )
    assert stored and stored["status"] == "done" and stored["swept"] is True


def test_delete_needs_the_exact_confirmation(api: ApiClient) -> None:
    for body in ({}, {"confirm": "delete"}, {"confirm": "DELETE", "extra": 1}):
        response = api.delete("/v1/me", body, user="zoe")
        assert response.status_code == 400 and body_of(response)["code"] == "validation_error"
    assert api.get("/v1/me", user="zoe").status_code == 200


def test_a_repeated_delete_is_refused_as_deleted_and_the_id_stays_deleted(api: ApiClient) -> None:
    first = body_of(api.delete("/v1/me", {"confirm": "DELETE"}, user="yann"))
    assert first["status"] == "pending"
    again = api.delete("/v1/me", {"confirm": "DELETE"}, user="yann")
    assert again.status_code == 401 and body_of(again)["code"] == "account_deleted"
    # a fresh container (empty cache) reads the marker
    from chalicelib.core import deleted

    deleted.reset()
    response = api.get("/v1/me/following", user="yann")
    assert response.status_code == 401 and body_of(response)["code"] == "account_deleted"


def test_exports_are_owner_only_and_one_per_day(api: ApiClient) -> None:
    started = api.post("/v1/me/export", user="una")
    assert started.status_code == 202
    export_id = body_of(started)["export_id"]
    again = api.post("/v1/me/export", user="una")
    assert again.status_code == 429 and body_of(again)["code"] == "rate_limited"
    assert 86_000 <= int(again.headers["Retry-After"]) <= 86_400
    assert api.get(f"/v1/me/exports/{export_id}", user="vic").status_code == 404
    assert body_of(api.get(f"/v1/me/exports/{export_id}", user="una")) == {
        "export_id": export_id,
        "status": "pending",
    }
