"""dm rules with in-memory fakes: no network, no AWS."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from chalicelib.core.domain_events import stable_event_id
from chalicelib.core.errors import (
    ForbiddenError,
    IdempotencyKeyReusedError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ValidationError,
)
from chalicelib.core.ids import new_ulid
from chalicelib.core.streams import StreamChange
from chalicelib.dm import logic, outbox, projections, reports, uploads
from chalicelib.dm.models import CreateAttachment, CreateConversation, CreateReport, SendMessage
from chalicelib.dm.records import message_record
from tests.unit.dm.fakes import FakeGraph, FakeMedia, FakeStore, FakeUploads

T0 = 1_800_000_000_000


class Ticker:
    """A clock that advances 1 ms per reading, with ULIDs from that time."""

    def __init__(self) -> None:
        self._t = itertools.count(T0)
        self.frozen: int | None = None

    def now(self) -> int:
        return self.frozen if self.frozen is not None else next(self._t)


@pytest.fixture
def world() -> tuple[FakeStore, FakeMedia, logic.Clock, Ticker]:
    ticker = Ticker()
    counter = itertools.count(1)
    # Ids sort in creation order, like the monotonic ULIDs in production.
    clock = logic.Clock(now_ms=ticker.now, new_id=lambda ms: new_ulid(T0 + next(counter)))
    graph = FakeGraph()
    graph.friends.add(frozenset(("alice", "bob")))
    return FakeStore(graph), FakeMedia(), clock, ticker


def _direct(store: FakeStore, clock: logic.Clock, a: str = "alice", b: str = "bob") -> str:
    view, _ = logic.create_conversation(store, store.graph, clock, a, CreateConversation(member_ids=[b]))
    return str(view["conversation_id"])


def _send(
    store: FakeStore, media: FakeMedia, clock: logic.Clock, cid: str, user: str, text: str, cmid: str = ""
) -> Any:
    req = SendMessage(client_message_id=cmid or text[:64], text=text)
    return logic.send_message(store, media, clock, user, cid, req)


def test_direct_conversation_is_found_again_not_duplicated(world: Any) -> None:
    store, _, clock, _ = world
    cid = _direct(store, clock)
    view, created = logic.create_conversation(
        store, store.graph, clock, "bob", CreateConversation(member_ids=["alice"])
    )
    assert view["conversation_id"] == cid and created is False


def test_group_with_a_used_idempotency_key_returns_the_original_group(world: Any) -> None:
    # Given alice created a group with a key
    store, _, clock, _ = world
    req = CreateConversation(member_ids=["bob", "carol"], title="Trip")
    first, _ = logic.create_conversation(store, store.graph, clock, "alice", req, "k1")
    # When she retries with the same key (members in another order)
    again, created = logic.create_conversation(
        store,
        store.graph,
        clock,
        "alice",
        CreateConversation(member_ids=["carol", "bob"], title="Trip"),
        "k1",
    )
    # Then the original group comes back and no second one exists
    assert again == first and created is True
    assert len(store.metas_) == 1
    # And the same key with a different title is refused
    with pytest.raises(IdempotencyKeyReusedError):
        logic.create_conversation(
            store,
            store.graph,
            clock,
            "alice",
            CreateConversation(member_ids=["bob", "carol"], title="X"),
            "k1",
        )
    # But the same key from another user is that user's own key
    logic.create_conversation(
        store, store.graph, clock, "bob", req.model_copy(update={"member_ids": ["alice", "carol"]}), "k1"
    )
    assert len(store.metas_) == 2


def test_a_group_idempotency_record_expires_a_day_after_the_clock_time(world: Any) -> None:
    store, _, clock, _ = world
    req = CreateConversation(member_ids=["bob", "carol"], title="Trip")
    view, _ = logic.create_conversation(store, store.graph, clock, "alice", req, "k1")
    record = store.group_keys[("alice", "k1")]
    assert record.response == view
    assert record.expires_s == T0 // 1000 + 24 * 3600


def test_replay_returns_original_and_different_body_is_rejected(world: Any) -> None:
    store, media, clock, _ = world
    cid = _direct(store, clock)
    first, created = _send(store, media, clock, cid, "alice", "hi", "k")
    again, created_again = _send(store, media, clock, cid, "alice", "hi", "k")
    assert created and not created_again and again == first
    with pytest.raises(IdempotencyKeyReusedError):
        _send(store, media, clock, cid, "alice", "other", "k")
    assert len(store.messages[cid]) == 1


def test_rate_limit_allows_a_burst_of_ten_per_two_seconds(world: Any) -> None:
    store, media, clock, ticker = world
    cid = _direct(store, clock)
    ticker.frozen = T0 + 500
    for i in range(10):
        _send(store, media, clock, cid, "alice", f"m{i}")
    with pytest.raises(RateLimitedError) as err:
        _send(store, media, clock, cid, "alice", "m10")
    assert err.value.retry_after == 2
    ticker.frozen = T0 + 2000
    assert _send(store, media, clock, cid, "alice", "next window")[1] is True


def test_request_allows_one_message_then_accept_opens_it(world: Any) -> None:
    store, media, clock, _ = world
    cid = _direct(store, clock, "alice", "carol")
    _send(store, media, clock, cid, "alice", "hello")
    with pytest.raises(ForbiddenError):
        _send(store, media, clock, cid, "alice", "hello again")
    with pytest.raises(ForbiddenError):
        _send(store, media, clock, cid, "carol", "reply before accepting")
    logic.accept_request(store, "carol", cid)
    assert _send(store, media, clock, cid, "alice", "now free")[1]
    assert _send(store, media, clock, cid, "carol", "hi")[1]


def test_block_applies_at_send_time(world: Any) -> None:
    store, media, clock, _ = world
    cid = _direct(store, clock)
    store.graph.blocks.add(("bob", "alice"))
    with pytest.raises(ForbiddenError):
        _send(store, media, clock, cid, "alice", "still there?")


def test_denied_direct_is_forbidden_and_group_lists_not_added(world: Any) -> None:
    store, _, clock, _ = world
    store.graph.policies["erin"] = "no_one"
    with pytest.raises(ForbiddenError):
        logic.create_conversation(store, store.graph, clock, "alice", CreateConversation(member_ids=["erin"]))
    view, _ = logic.create_conversation(
        store, store.graph, clock, "alice", CreateConversation(member_ids=["bob", "erin"], title="g")
    )
    assert view["not_added"] == ["erin"] and view["kind"] == "group"


def test_non_member_sees_nothing(world: Any) -> None:
    store, media, clock, _ = world
    cid = _direct(store, clock)
    with pytest.raises(NotFoundError):
        logic.get_conversation(store, "mallory", cid)
    with pytest.raises(NotFoundError):
        logic.list_messages(store, media, None, "s3cret-key", "mallory", cid, 20, None, None)
    with pytest.raises(NotFoundError):
        _send(store, media, clock, cid, "mallory", "hi")


def test_mark_read_counts_exactly_what_is_left(world: Any) -> None:
    # Given four projected messages from alice and one from bob
    store, media, clock, _ = world
    cid = _direct(store, clock)
    sent = [_send(store, media, clock, cid, "alice", f"m{i}")[0] for i in range(4)]
    _send(store, media, clock, cid, "bob", "mine")
    projections.apply(_inserts(store, cid), writer=store)
    assert store.members[cid]["bob"]["unread_count"] == 4
    # When bob reads the second one
    logic.mark_read(store, "bob", cid, sent[1]["message_id"], T0)
    # Then two of alice's are left (his own message never counts)
    assert store.members[cid]["bob"]["unread_count"] == 2
    # And re-reading an older one changes nothing
    logic.mark_read(store, "bob", cid, sent[0]["message_id"], T0)
    assert store.members[cid]["bob"]["last_read_message_id"] == sent[1]["message_id"]


def _inserts(store: FakeStore, cid: str) -> list[StreamChange]:
    return [
        StreamChange(
            event_id=m["message_id"],
            event_name="INSERT",
            sequence_number=m["message_id"],
            keys={"pk": f"CONV#{cid}", "sk": f"MSG#{m['message_id']}"},
            new=m,
            old=None,
            approximate_ms=0,
        )
        for m in store.messages[cid].values()
    ]


def test_unsend_of_an_unread_message_is_recounted_once_even_when_replayed(world: Any) -> None:
    # Given bob has three unread messages from alice, and has read none
    store, media, clock, _ = world
    cid = _direct(store, clock)
    sent = [_send(store, media, clock, cid, "alice", f"m{i}")[0] for i in range(3)]
    projections.apply(_inserts(store, cid), writer=store)
    # When alice unsends the first, and the MODIFY record is delivered twice
    before = dict(store.messages[cid][sent[0]["message_id"]])
    logic.unsend(store, "alice", cid, sent[0]["message_id"], T0)
    unsend = StreamChange(
        event_id="u1",
        event_name="MODIFY",
        sequence_number="u1",
        keys={"pk": f"CONV#{cid}", "sk": f"MSG#{sent[0]['message_id']}"},
        new=dict(store.messages[cid][sent[0]["message_id"]]),
        old=before,
        approximate_ms=0,
    )
    projections.apply([unsend], writer=store)
    projections.apply([unsend], writer=store)
    # Then bob has two unread, and alice (the sender) still none
    assert store.members[cid]["bob"]["unread_count"] == 2
    assert store.members[cid]["alice"].get("unread_count", 0) == 0


def _unsends(store: FakeStore, cid: str, unsent: list[tuple[str, str]]) -> list[StreamChange]:
    """Each (sender, message id) unsent now, as the MODIFY record the stream delivers."""
    changes = []
    for sender, mid in unsent:
        before = dict(store.messages[cid][mid])
        logic.unsend(store, sender, cid, mid, T0)
        changes.append(
            StreamChange(
                event_id=f"u-{mid}",
                event_name="MODIFY",
                sequence_number=f"u-{mid}",
                keys={"pk": f"CONV#{cid}", "sk": f"MSG#{mid}"},
                new=dict(store.messages[cid][mid]),
                old=before,
                approximate_ms=0,
            )
        )
    return changes


def _record_recounts(store: FakeStore) -> list[str]:
    """The user ids of the unread recounts ``store`` is asked for from now on."""
    recounts: list[str] = []
    count_from_others = store.count_from_others

    def counting(conversation_id: str, user_id: str, after_id: str | None, through_id: str) -> int:
        recounts.append(user_id)
        return count_from_others(conversation_id, user_id, after_id, through_id)

    store.count_from_others = counting  # type: ignore[method-assign]
    return recounts


def test_unsends_in_one_batch_are_recounted_once_per_member_even_when_replayed(world: Any) -> None:
    # Given bob has three unread messages from alice, and alice one unread from bob (the last)
    store, media, clock, _ = world
    cid = _direct(store, clock)
    sent = [_send(store, media, clock, cid, "alice", f"m{i}")[0] for i in range(3)]
    mine = _send(store, media, clock, cid, "bob", "b0")[0]
    projections.apply(_inserts(store, cid), writer=store)
    assert store.members[cid]["bob"]["unread_count"] == 3
    assert store.members[cid]["alice"]["unread_count"] == 1
    # When alice unsends two of hers and bob his, all in ONE batch that is delivered twice
    batch = _unsends(
        store,
        cid,
        [("alice", sent[0]["message_id"]), ("alice", sent[1]["message_id"]), ("bob", mine["message_id"])],
    )
    recounts = _record_recounts(store)
    projections.apply(batch, writer=store)
    # Then each member is recounted once: bob has one unread left, alice none
    assert sorted(recounts) == ["alice", "bob"]
    assert store.members[cid]["bob"]["unread_count"] == 1
    assert store.members[cid]["alice"]["unread_count"] == 0
    # And the replay recounts to the same numbers
    projections.apply(batch, writer=store)
    assert store.members[cid]["bob"]["unread_count"] == 1
    assert store.members[cid]["alice"]["unread_count"] == 0
    # And the unsent last message shows as deleted for both members and in META
    for shown in (store.members[cid]["bob"], store.members[cid]["alice"], store.metas_[cid]):
        assert shown["last_message"]["message_id"] == mine["message_id"]
        assert shown["last_message"]["type"] == "deleted"


def test_unsent_messages_the_member_sent_all_of_need_no_recount(world: Any) -> None:
    # Given bob has two unread messages from alice
    store, media, clock, _ = world
    cid = _direct(store, clock)
    sent = [_send(store, media, clock, cid, "alice", f"m{i}")[0] for i in range(2)]
    projections.apply(_inserts(store, cid), writer=store)
    # When alice unsends both in one batch
    batch = _unsends(store, cid, [("alice", m["message_id"]) for m in sent])
    recounts = _record_recounts(store)
    projections.apply(batch, writer=store)
    # Then only bob is recounted (alice sent them all), to zero
    assert recounts == ["bob"]
    assert store.members[cid]["bob"]["unread_count"] == 0


def test_projection_is_idempotent_under_replay(world: Any) -> None:
    store, media, clock, _ = world
    cid = _direct(store, clock)
    for i in range(3):
        _send(store, media, clock, cid, "alice", f"m{i}")
    changes = _inserts(store, cid)
    projections.apply(changes, writer=store)
    projections.apply(changes, writer=store)
    projections.apply(changes[:1], writer=store)
    bob = store.members[cid]["bob"]
    assert bob["unread_count"] == 3 and bob["last_message"]["preview"] == "m2"
    assert store.members[cid]["alice"]["unread_count"] == 0


def test_inbox_rows_and_cursor_binding(world: Any) -> None:
    store, media, clock, _ = world
    cid = _direct(store, clock)
    _send(store, media, clock, cid, "alice", "x" * 150)
    projections.apply(_inserts(store, cid), writer=store)
    rows = logic.inbox(store, "s3cret-key", "bob", "inbox", 20, None)["items"]
    assert rows[0]["last_message"]["preview"] == "x" * 100 and rows[0]["unread_count"] == 1
    with pytest.raises(ValidationError):
        logic.inbox(store, "s3cret-key", "bob", "archive", 20, None)


def test_attachment_rules(world: Any) -> None:
    store, media, clock, _ = world
    store.uploads = ups = FakeUploads()
    out = uploads.create_attachment(
        media, ups, clock, "alice", CreateAttachment(content_type="image/gif", size_bytes=9)
    )
    assert media.presigned[0][:1] == ("alice",) and media.presigned[0][4] <= 300
    assert out["upload"]["fields"]["key"].startswith("attachments/alice/")
    with pytest.raises(ValidationError):
        uploads.create_attachment(
            media, ups, clock, "alice", CreateAttachment(content_type="text/html", size_bytes=9)
        )
    with pytest.raises(PayloadTooLargeError):
        uploads.create_attachment(
            media, ups, clock, "alice", CreateAttachment(content_type="image/png", size_bytes=11 << 20)
        )
    cid = _direct(store, clock)
    req = SendMessage(client_message_id="a", attachment_id=out["attachment_id"])
    with pytest.raises(ValidationError):  # not uploaded yet
        logic.send_message(store, media, clock, "alice", cid, req)
    media.objects[("alice", out["attachment_id"])] = ("image/gif", 9)
    view, _ = logic.send_message(store, media, clock, "alice", cid, req)
    assert view["type"] == "attachment" and "expires=900" in view["attachment"]["url"]
    # One upload goes with one message
    again = SendMessage(client_message_id="b", attachment_id=out["attachment_id"])
    with pytest.raises(ValidationError):
        logic.send_message(store, media, clock, "alice", cid, again)


def test_daily_upload_quota_counts_uploads_and_bytes(world: Any) -> None:
    _, media, clock, _ = world
    ups = FakeUploads()
    video = CreateAttachment(content_type="video/mp4", size_bytes=50 << 20)
    for _ in range(40):  # 40 x 50 MiB = 2000 MiB
        uploads.create_attachment(media, ups, clock, "alice", video)
    with pytest.raises(RateLimitedError) as err:  # 2 GiB would be passed
        uploads.create_attachment(media, ups, clock, "alice", video)
    assert err.value.code == "rate_limited" and 1 <= err.value.retry_after <= 86_400
    small = CreateAttachment(content_type="image/gif", size_bytes=1)
    for _ in range(160):  # 200 uploads
        uploads.create_attachment(media, ups, clock, "alice", small)
    with pytest.raises(RateLimitedError):
        uploads.create_attachment(media, ups, clock, "alice", small)
    uploads.create_attachment(media, ups, clock, "bob", small)  # per user


def test_uploads_never_sent_are_deleted_after_24_hours(world: Any) -> None:
    store, media, clock, _ = world
    store.uploads = ups = FakeUploads()
    gif = CreateAttachment(content_type="image/gif", size_bytes=9)
    kept = uploads.create_attachment(media, ups, clock, "alice", gif)["attachment_id"]
    dropped = uploads.create_attachment(media, ups, clock, "alice", gif)["attachment_id"]
    for aid in (kept, dropped):
        media.objects[("alice", aid)] = ("image/gif", 9)
    cid = _direct(store, clock)
    logic.send_message(
        store, media, clock, "alice", cid, SendMessage(client_message_id="k", attachment_id=kept)
    )
    now = clock.now_ms()
    assert uploads.sweep_unsent(ups, media, now + 23 * 3_600_000) == 0  # not yet
    assert uploads.sweep_unsent(ups, media, now + 26 * 3_600_000) == 1
    assert media.deleted == [("alice", dropped)]
    assert ("alice", kept) in media.objects
    assert uploads.sweep_unsent(ups, media, now + 27 * 3_600_000) == 0  # once


def test_unsending_deletes_the_attachment_object(world: Any) -> None:
    store, media, clock, _ = world
    cid = _direct(store, clock)
    att = new_ulid()
    media.objects[("alice", att)] = ("image/gif", 9)
    view, _ = logic.send_message(
        store, media, clock, "alice", cid, SendMessage(client_message_id="a", attachment_id=att)
    )
    old = dict(store.messages[cid][view["message_id"]])
    logic.unsend(store, "alice", cid, view["message_id"], T0)
    change = StreamChange("e1", "MODIFY", "1", {}, dict(store.messages[cid][view["message_id"]]), old, 0)
    projections.apply([change], writer=store, media=media)
    projections.apply([change], writer=store, media=media)  # a replay is harmless
    assert ("alice", att) not in media.objects
    assert media.deleted[0] == ("alice", att)


def test_report_copies_message_and_requires_visibility(world: Any) -> None:
    store, media, clock, _ = world
    cid = _direct(store, clock)
    msg, _ = _send(store, media, clock, cid, "alice", "evidence")
    saved: list[dict[str, Any]] = []

    class Reports:
        def put_report(self, report: dict[str, Any]) -> None:
            saved.append(report)

    req = CreateReport(target_type="message", target_id=msg["message_id"], conversation_id=cid, reason="spam")
    reports.create_report(store, Reports(), lambda s, m: None, clock, "bob", req)
    assert saved[0]["evidence"]["text"] == "evidence"
    with pytest.raises(NotFoundError):
        reports.create_report(store, Reports(), lambda s, m: None, clock, "mallory", req)


def test_outbox_maps_message_insert_to_message_sent() -> None:
    msg = message_record(
        conversation_id="C1",
        message_id="M1",
        sender_id="alice",
        client_message_id="c",
        now_ms=T0,
        text="t" * 120,
    )
    change = StreamChange("e", "INSERT", "42", {"pk": "CONV#C1", "sk": "MSG#M1"}, msg, None, T0)
    (event,) = outbox.events_from_change(change, members_of=lambda cid: ["alice", "bob", "carol"])
    assert event.type == "message.sent" and event.recipient_ids == ["bob", "carol"]
    assert event.data["preview"] == "t" * 100 and event.data["message"]["text"] == "t" * 120
    assert event.event_id == stable_event_id("message.sent", "CONV#C1", "MSG#M1", "42")
    # the send transaction's bookkeeping (sent_count on the member item) emits nothing
    member = {"entity": "member", "conversation_id": "C1", "user_id": "alice", "sent_count": 2}
    bump = StreamChange("e2", "MODIFY", "43", {}, member, {**member, "sent_count": 1}, T0)
    assert outbox.events_from_change(bump, members_of=lambda cid: []) == []


def test_a_500_character_message_item_stays_under_1_kb() -> None:
    from chalicelib.dm.dal import message_item

    msg = message_record(
        conversation_id=new_ulid(),
        message_id=new_ulid(),
        sender_id="u" * 36,
        client_message_id="c" * 36,
        now_ms=T0,
        text="x" * 500,
    )
    item = {k: v for k, v in message_item(msg).items() if v is not None}
    assert sum(len(k) + len(json.dumps(v)) for k, v in item.items()) <= 1024
