"""Post and delete decisions made before the one transaction (fakes, no AWS)."""

from __future__ import annotations

from collections import Counter

import pytest

from chalicelib.core.ids import new_ulid
from chalicelib.live.chat import contains_banned_word, delete_message, post_message, shard_for
from chalicelib.live.errors import (
    ChatMessageNotFoundError,
    NotModeratorError,
    RejectedByModerationError,
    StreamNotFoundError,
)
from chalicelib.live.models import PostChatRequest
from tests.unit.live.fakes import FakeChat, FakeStreams, make_stream

NOW = 1_800_000_000_000


def _post(streams: FakeStreams, chat: FakeChat, sender: str, text: str = "hi") -> None:
    post_message(
        streams,
        chat,
        stream_id="S1",
        sender_id=sender,
        request=PostChatRequest(client_message_id="c1", text=text),
        now_ms=NOW,
    )


@pytest.mark.parametrize(
    ("text", "banned"),
    [
        ("SPOILER: he dies", True),
        ("this is a spoiler.", True),
        ("(spoiler)", True),
        ("no spoilers please", False),
        ("antispoiler", False),
        ("what the f**k", True),
        ("f**kery", False),
        ("nothing to see", False),
    ],
)
def test_banned_words_match_whole_words_ignoring_case(text: str, banned: bool) -> None:
    assert contains_banned_word(text, ["spoiler", "f**k"]) is banned


def test_no_banned_words_never_rejects() -> None:
    assert contains_banned_word("anything at all", []) is False


def test_a_message_with_a_banned_word_is_rejected_before_anything_is_written() -> None:
    # Given a room banning "scam"
    streams, chat = FakeStreams(make_stream(banned_words=("scam",))), FakeChat()
    # When a viewer writes it
    with pytest.raises(RejectedByModerationError) as err:
        _post(streams, chat, "alice", "total SCAM")
    # Then 422 rejected_by_moderation and no transaction was attempted
    assert (err.value.status, err.value.code) == (422, "rejected_by_moderation")
    assert chat.plans == []


def test_posting_to_an_unknown_stream_is_404() -> None:
    with pytest.raises(StreamNotFoundError):
        _post(FakeStreams(), FakeChat(), "alice")


def test_viewers_get_slow_mode_but_host_and_moderators_do_not() -> None:
    # Given a room with 5 s slow mode and a moderator
    streams = FakeStreams(make_stream(slow_mode_seconds=5, moderators=frozenset({"mod"})))
    chat = FakeChat()
    # When each posts
    for sender in ("viewer", "host", "mod"):
        _post(streams, chat, sender)
    # Then only the viewer's transaction carries the slow-mode condition
    assert [p.slow_mode_ms for p in chat.plans] == [5000, 0, 0]


def test_the_room_cap_is_split_over_the_shards() -> None:
    streams, chat = FakeStreams(make_stream(shards=4, room_cap=100)), FakeChat()
    _post(streams, chat, "alice")
    assert chat.plans[0].per_shard_cap == 25
    assert 0 <= chat.plans[0].shard < 4


def test_shards_are_spread_evenly_and_recomputable_from_the_id() -> None:
    ids = [new_ulid() for _ in range(4000)]
    counts = Counter(shard_for(i, 4) for i in ids)
    assert set(counts) == {0, 1, 2, 3}
    assert min(counts.values()) > 800  # each near 1,000
    assert all(shard_for(i, 4) == shard_for(i, 4) for i in ids[:50])
    assert shard_for(ids[0], 1) == 0


def test_replays_carry_the_same_fingerprint_and_other_texts_do_not() -> None:
    streams, chat = FakeStreams(make_stream()), FakeChat()
    _post(streams, chat, "alice", "hello")
    _post(streams, chat, "alice", "hello")
    _post(streams, chat, "alice", "other")
    prints = [p.fingerprint for p in chat.plans]
    assert prints[0] == prints[1] != prints[2]


def test_only_host_and_moderators_delete_and_deleting_twice_is_harmless() -> None:
    # Given a message in a room with a moderator
    streams = FakeStreams(make_stream(moderators=frozenset({"mod"})))
    chat = FakeChat()
    message_id = new_ulid()
    chat.add("S1", 0, message_id=message_id)
    # When a viewer tries, then the moderator (twice)
    with pytest.raises(NotModeratorError):
        delete_message(streams, chat, stream_id="S1", caller="viewer", message_id=message_id, now_ms=NOW)
    for _ in range(2):
        delete_message(streams, chat, stream_id="S1", caller="mod", message_id=message_id, now_ms=NOW)
    # Then it is hidden
    assert chat.items[("S1", 0)][0]["deleted"] is True


def test_deleting_an_unknown_or_malformed_message_is_404() -> None:
    streams, chat = FakeStreams(make_stream()), FakeChat()
    for message_id in (new_ulid(), "not-a-ulid"):
        with pytest.raises(ChatMessageNotFoundError):
            delete_message(streams, chat, stream_id="S1", caller="host", message_id=message_id, now_ms=NOW)
