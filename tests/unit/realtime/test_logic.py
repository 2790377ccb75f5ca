"""Real-time delivery rules with in-memory fakes (no network)."""

from __future__ import annotations

import json

import pytest

from chalicelib.core.domain_events import DomainEvent
from chalicelib.core.errors import UnauthorizedError
from chalicelib.realtime import logic
from chalicelib.realtime.models import CONNECTION_TTL_SECONDS, Connection
from tests.unit.realtime.fakes import (
    FakeBlocks,
    FakeMembers,
    FakeSender,
    FakeStore,
    FakeThrottle,
    FakeVerifier,
)

NOW = 1_800_000_000
NOW_MS = NOW * 1000


def _event(event_type: str, recipients: list[str], **data: object) -> DomainEvent:
    return DomainEvent(
        event_id="evt_1",
        type=event_type,
        occurred_at="2027-01-15T08:00:00.000Z",
        actor_id="alice",
        recipient_ids=recipients,
        data=dict(data),
    )


def _store(*connections: tuple[str, str]) -> FakeStore:
    store = FakeStore()
    for user, connection_id in connections:
        store.add(Connection(user, connection_id, "https://ws.example/v1", expires_at=NOW + 3600), NOW + 3600)
    return store


def _frame(
    connection_id: str,
    body: object,
    store: FakeStore,
    sender: FakeSender,
    throttle: FakeThrottle | None = None,
    now_ms: int = NOW_MS,
    blocks: FakeBlocks | None = None,
) -> logic.DeliveryReport:
    members = FakeMembers({"c1": ["alice", "bob", "dave"], "dm": ["alice", "bob"]})
    raw = body if isinstance(body, str) else json.dumps(body)
    return logic.handle_client_frame(
        connection_id,
        raw,
        store=store,
        members=members,
        throttle=throttle or FakeThrottle(),
        blocks=blocks or FakeBlocks(),
        sender=sender,
        now_ms=now_ms,
    )


# --- $connect / $disconnect -----------------------------------------------------------------


def test_connect_with_a_valid_token_stores_the_connection_under_the_user_for_two_hours() -> None:
    # Given an empty store
    store = FakeStore()
    # When bob connects with a valid token
    connection = logic.connect(
        "token-bob", "cid-1", "https://ws.example/v1", verifier=FakeVerifier(), store=store, now=NOW
    )
    # Then the connection is his and expires with API Gateway's 2 h maximum (the token lives longer)
    assert connection == Connection(
        "bob", "cid-1", "https://ws.example/v1", expires_at=NOW + CONNECTION_TTL_SECONDS
    )
    assert store.items["cid-1"] == (connection, FakeVerifier().expires_at)


def test_connect_with_a_short_lived_token_expires_with_the_token() -> None:
    # Given an empty store
    store = FakeStore()
    # When bob connects with a token that expires in 3 seconds
    connection = logic.connect(
        f"token-bob@{NOW + 3}", "cid-1", "e", verifier=FakeVerifier(), store=store, now=NOW
    )
    # Then the connection ends with the token, and the token's exp is stored with it
    assert connection.expires_at == NOW + 3
    assert store.items["cid-1"] == (connection, NOW + 3)


def test_connect_with_a_token_already_past_exp_is_refused() -> None:
    # Given a token the verifier still accepts (clock-skew leeway) whose exp has passed
    store = FakeStore()
    # When / Then the socket is refused: it would be dead on arrival
    with pytest.raises(UnauthorizedError):
        logic.connect(f"token-bob@{NOW}", "cid-1", "e", verifier=FakeVerifier(), store=store, now=NOW)
    assert store.items == {}


@pytest.mark.parametrize("token", [None, "", "   ", "forged"])
def test_connect_without_a_valid_token_is_refused_and_nothing_is_stored(token: str | None) -> None:
    # Given an empty store
    store = FakeStore()
    # When a socket connects with a missing or invalid token
    with pytest.raises(UnauthorizedError):
        logic.connect(token, "cid-1", "e", verifier=FakeVerifier(), store=store, now=NOW)
    # Then it is refused and not remembered
    assert store.items == {}


def test_disconnect_forgets_only_that_connection() -> None:
    # Given bob with two open connections
    store = _store(("bob", "b1"), ("bob", "b2"))
    # When one closes
    gone = logic.disconnect("b1", store=store)
    # Then only that one is forgotten
    assert gone is not None and gone.connection_id == "b1"
    assert [c.connection_id for c in store.connections_of(["bob"], NOW)] == ["b2"]
    assert logic.disconnect("unknown", store=store) is None


# --- outbox events → frames -----------------------------------------------------------------


def test_a_sent_message_reaches_every_open_connection_of_each_recipient_only() -> None:
    # Given bob on two devices, alice (the sender) and carol connected
    store = _store(("bob", "b1"), ("bob", "b2"), ("alice", "a1"), ("carol", "c1"))
    sender = FakeSender()
    message = {"message_id": "m1", "text": "hi"}
    # When the outbox reports alice's message to bob
    report = logic.deliver_event(
        _event("message.sent", ["bob"], conversation_id="conv", message=message),
        store=store,
        sender=sender,
        blocks=FakeBlocks(),
        now=NOW,
    )
    # Then both of bob's sockets receive it, nobody else does
    expected = {"type": "message.new", "conversation_id": "conv", "message": message}
    assert sender.received("b1") == [expected]
    assert sender.received("b2") == [expected]
    assert sender.received("a1") == [] and sender.received("c1") == []
    assert report.sent == 2


def test_expired_connections_are_closed_at_delivery_instead_of_posted_to() -> None:
    # Given bob's connection whose token expired a second ago, and his live one
    store = _store(("bob", "live"))
    store.add(Connection("bob", "old", "e", expires_at=NOW - 1), NOW - 1)
    sender = FakeSender()
    # When a message for bob is delivered
    report = logic.deliver_event(
        _event("message.sent", ["bob"], conversation_id="c", message={}),
        store=store,
        sender=sender,
        blocks=FakeBlocks(),
        now=NOW,
    )
    # Then nothing is posted to the expired one: it is closed and forgotten
    assert sender.received("old") == [] and sender.received("live") != []
    assert sender.closed == ["old"] and report.expired == ["old"]
    assert [c.connection_id for c in store.connections_of(["bob"], NOW)] == ["live"]


def test_an_expired_connection_that_cannot_be_closed_now_is_kept_for_the_sweeper() -> None:
    # Given bob's expired connection and a management API that fails right now
    store = FakeStore()
    store.add(Connection("bob", "old", "e", expires_at=NOW - 1), NOW - 1)
    sender = FakeSender(broken={"old"})
    # When a frame would reach it
    report = logic.deliver_event(
        _event("message.sent", ["bob"], conversation_id="c", message={}),
        store=store,
        sender=sender,
        blocks=FakeBlocks(),
        now=NOW,
    )
    # Then it still receives nothing, and stays stored for the sweeper's next run
    assert sender.frames == {} and report.failed == ["old"]
    assert "old" in store.items


def test_the_sweeper_closes_idle_expired_connections_only() -> None:
    # Given connections that expired 5 minutes ago, just now, and one still valid
    store = FakeStore()
    for cid, expires_at in (("long-ago", NOW - 300), ("just-now", NOW), ("valid", NOW + 60)):
        store.add(Connection("bob", cid, "e", expires_at=expires_at), expires_at)
    sender = FakeSender()
    # When the sweeper runs
    report = logic.sweep_expired(store, sender, NOW)
    # Then the expired ones are closed and forgotten, the valid one untouched
    assert sorted(report.expired) == ["just-now", "long-ago"]
    assert sorted(sender.closed) == ["just-now", "long-ago"]
    assert list(store.items) == ["valid"]


def test_a_frame_on_an_expired_connection_closes_it_unanswered() -> None:
    # Given alice's connection whose token has expired
    store = FakeStore()
    store.add(Connection("alice", "a1", "e", expires_at=NOW - 1), NOW - 1)
    sender = FakeSender()
    # When she pings on it
    report = _frame("a1", {"action": "ping"}, store, sender)
    # Then no pong: the connection is closed and forgotten
    assert sender.frames == {} and sender.closed == ["a1"] and report.expired == ["a1"]
    assert store.items == {}


def test_a_gone_connection_is_removed_and_the_others_still_receive() -> None:
    # Given bob with a live and a stale connection (its $disconnect never ran)
    store = _store(("bob", "live"), ("bob", "stale"), ("bob", "busy"))
    sender = FakeSender(gone={"stale"}, broken={"busy"})
    # When a frame is delivered
    report = logic.deliver_event(
        _event("message.deleted", ["bob"], conversation_id="c", message_id="m1"),
        store=store,
        sender=sender,
        blocks=FakeBlocks(),
        now=NOW,
    )
    # Then the live one receives it, the stale one is forgotten, the throttled one is kept
    assert sender.received("live") == [
        {"type": "message.deleted", "conversation_id": "c", "message_id": "m1"}
    ]
    assert report.gone == ["stale"] and report.failed == ["busy"]
    assert sorted(c.connection_id for c in store.connections_of(["bob"], NOW)) == ["busy", "live"]


@pytest.mark.parametrize(
    ("event_type", "data", "frame"),
    [
        (
            "message.sent",
            {"conversation_id": "c", "message": {"message_id": "m"}},
            {"type": "message.new", "conversation_id": "c", "message": {"message_id": "m"}},
        ),
        (
            "message.deleted",
            {"conversation_id": "c", "message_id": "m", "extra": 1},
            {"type": "message.deleted", "conversation_id": "c", "message_id": "m"},
        ),
        (
            "conversation.read",
            {"conversation_id": "c", "user_id": "bob", "message_id": "m"},
            {"type": "read", "conversation_id": "c", "user_id": "bob", "message_id": "m"},
        ),
        (
            "conversation.request",
            {"conversation_id": "c", "from_user_id": "dave"},
            {"type": "conversation.request", "conversation_id": "c", "from_user_id": "dave"},
        ),
        (
            "reaction.added",
            {"conversation_id": "c", "message_id": "m", "emoji": "👍🏽", "user_id": "bob", "author_id": "al"},
            {
                "type": "reaction.added",
                "conversation_id": "c",
                "message_id": "m",
                "emoji": "👍🏽",
                "user_id": "bob",
            },
        ),
        (
            "reaction.removed",
            {"conversation_id": "c", "message_id": "m", "emoji": "👍", "user_id": "bob", "author_id": None},
            {
                "type": "reaction.removed",
                "conversation_id": "c",
                "message_id": "m",
                "emoji": "👍",
                "user_id": "bob",
            },
        ),
    ],
)
def test_each_outbox_event_becomes_its_client_frame(
    event_type: str, data: dict[str, object], frame: dict[str, object]
) -> None:
    # Given / When an outbox event is mapped
    # Then the client sees the documented frame
    assert logic.frame_for_event(_event(event_type, ["bob"], **data)) == frame


def test_events_without_a_realtime_frame_are_not_pushed() -> None:
    # Given bob connected
    store = _store(("bob", "b1"))
    sender = FakeSender()
    # When an event that has no frame (a share, a follow) is delivered
    report = logic.deliver_event(
        _event("share.created", ["bob"]), store=store, sender=sender, blocks=FakeBlocks(), now=NOW
    )
    # Then nothing is posted
    assert report.sent == 0 and sender.frames == {}


# --- client frames --------------------------------------------------------------------------


def test_ping_is_answered_with_pong_on_the_same_connection() -> None:
    # Given alice connected twice
    store = _store(("alice", "a1"), ("alice", "a2"))
    sender = FakeSender()
    # When a1 pings
    _frame("a1", {"action": "ping"}, store, sender)
    # Then only a1 gets the pong
    assert sender.received("a1") == [{"type": "pong"}]
    assert sender.received("a2") == []


def test_typing_is_relayed_to_the_other_members_only() -> None:
    # Given alice, bob and dave in c1; alice on two devices; carol (not a member) connected
    store = _store(("alice", "a1"), ("alice", "a2"), ("bob", "b1"), ("dave", "d1"), ("carol", "c1"))
    sender = FakeSender()
    # When alice types in c1
    _frame("a1", {"action": "typing", "conversation_id": "c1"}, store, sender)
    # Then bob and dave see it; alice's devices and carol do not
    typing = {"type": "typing", "conversation_id": "c1", "user_id": "alice"}
    assert sender.received("b1") == [typing] and sender.received("d1") == [typing]
    assert sender.received("a1") == [] and sender.received("a2") == [] and sender.received("c1") == []


def test_typing_is_relayed_at_most_once_per_three_seconds() -> None:
    # Given alice and bob connected, one throttle
    store = _store(("alice", "a1"), ("bob", "b1"))
    sender = FakeSender()
    throttle = FakeThrottle()
    typing = {"action": "typing", "conversation_id": "c1"}
    # When alice sends typing at t, t+1 s, t+2.9 s and t+3 s
    for offset in (0, 1_000, 2_900, 3_000):
        _frame("a1", typing, store, sender, throttle, now_ms=NOW_MS + offset)
    # Then bob sees two frames: at t and at t+3 s
    assert len(sender.received("b1")) == 2


@pytest.mark.parametrize(("blocker", "blocked"), [("bob", "alice"), ("alice", "bob")])
def test_a_typing_frame_never_crosses_a_block_in_a_direct_conversation(blocker: str, blocked: str) -> None:
    # Given alice and bob in their direct conversation, one of them blocked the other
    store = _store(("alice", "a1"), ("bob", "b1"))
    sender = FakeSender()
    blocks = FakeBlocks((blocker, blocked))
    # When each of them types
    _frame("a1", {"action": "typing", "conversation_id": "dm"}, store, sender, blocks=blocks)
    _frame("b1", {"action": "typing", "conversation_id": "dm"}, store, sender, blocks=blocks)
    # Then neither sees the other typing, and neither is told why
    assert sender.frames == {}


def test_a_typing_frame_in_a_group_skips_only_the_members_across_a_block() -> None:
    # Given alice, bob and dave in group c1; bob blocked alice
    store = _store(("alice", "a1"), ("bob", "b1"), ("dave", "d1"))
    sender = FakeSender()
    blocks = FakeBlocks(("bob", "alice"))
    # When alice types, then bob types
    _frame("a1", {"action": "typing", "conversation_id": "c1"}, store, sender, blocks=blocks)
    _frame("b1", {"action": "typing", "conversation_id": "c1"}, store, sender, blocks=blocks)
    # Then dave sees both; bob never sees alice typing, alice never sees bob
    assert [f["user_id"] for f in sender.received("d1")] == ["alice", "bob"]
    assert sender.received("b1") == [] and sender.received("a1") == []
    # And each relay read the blocks once (batched), not once per member
    assert blocks.reads == 2


def test_a_read_frame_never_reaches_someone_across_a_block() -> None:
    # Given bob blocked alice; carol and bob are in a group with alice; all connected
    store = _store(("bob", "b1"), ("carol", "c1"))
    sender = FakeSender()
    blocks = FakeBlocks(("bob", "alice"))
    # When the outbox reports that alice read the group
    event = _event(
        "conversation.read", ["bob", "carol"], conversation_id="g", user_id="alice", message_id="m"
    )
    report = logic.deliver_event(event, store=store, sender=sender, blocks=blocks, now=NOW)
    # Then carol gets the read frame, bob (the blocker) does not
    assert [f["type"] for f in sender.received("c1")] == ["read"]
    assert sender.received("b1") == [] and report.sent == 1


def test_a_blocked_users_messages_are_not_screened_by_the_read_rule() -> None:
    # Given bob blocked alice (message frames follow the dm domain's own rules)
    store = _store(("bob", "b1"))
    sender = FakeSender()
    blocks = FakeBlocks(("bob", "alice"))
    # When a message.deleted event from alice is delivered
    logic.deliver_event(
        _event("message.deleted", ["bob"], conversation_id="g", message_id="m"),
        store=store,
        sender=sender,
        blocks=blocks,
        now=NOW,
    )
    # Then it is delivered and no block read was spent on it
    assert len(sender.received("b1")) == 1 and blocks.reads == 0


def test_typing_in_a_conversation_the_sender_is_not_in_is_refused() -> None:
    # Given carol (not a member of c1) and bob connected
    store = _store(("carol", "c1"), ("bob", "b1"))
    sender = FakeSender()
    # When carol sends typing to c1 and to an unknown conversation
    _frame("c1", {"action": "typing", "conversation_id": "c1"}, store, sender)
    _frame("c1", {"action": "typing", "conversation_id": "nope"}, store, sender)
    # Then she gets the same not_found answer twice and bob sees nothing
    assert [f["code"] for f in sender.received("c1")] == ["not_found", "not_found"]
    assert sender.received("b1") == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        {"action": "dance"},
        {"action": "typing"},
        {"action": "typing", "conversation_id": 5},
        {"action": "ping", "extra": True},
        {"action": "typing", "conversation_id": "x" * 129},
        "x" * 5000,
        "[" * 4000 + "]" * 4000,
    ],
)
def test_malformed_frames_are_answered_with_an_error_frame(body: object) -> None:
    # Given alice connected
    store = _store(("alice", "a1"), ("bob", "b1"))
    sender = FakeSender()
    # When she sends a malformed frame
    _frame("a1", body, store, sender)
    # Then she is told what went wrong; nobody else receives anything
    (reply,) = sender.received("a1")
    assert reply["type"] == "error" and reply["code"] in {"validation_error", "payload_too_large"}
    assert sender.received("b1") == []


def test_frames_from_an_unknown_connection_are_ignored() -> None:
    # Given a store that does not know the connection
    sender = FakeSender()
    # When it sends a ping
    report = _frame("ghost", {"action": "ping"}, FakeStore(), sender)
    # Then nothing is posted
    assert report.sent == 0 and sender.frames == {}
