"""Stream lifecycle and moderation rules (fakes, no AWS)."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import UnprocessableError, ValidationError
from chalicelib.live import streams as logic
from chalicelib.live.errors import NotHostError, NotModeratorError, StreamNotFoundError
from chalicelib.live.models import StartStreamRequest, StreamSettingsRequest
from tests.unit.live.fakes import FakeSales, FakeStreams, make_stream

NOW = 1_800_000_000_000


@pytest.mark.parametrize(("peak", "k"), [(1, 1), (100, 1), (500, 1), (501, 2), (5000, 10), (25_000, 50)])
def test_k_is_the_expected_peak_over_500(peak: int, k: int) -> None:
    assert logic.shard_count(peak) == k


def test_a_new_stream_is_live_with_defaults_and_k_from_the_cap() -> None:
    streams = FakeStreams()
    stream = logic.start_stream(
        streams,
        host_id="host",
        request=StartStreamRequest(title="Hi", room_cap=5000),
        stream_id="S1",
        now_ms=NOW,
    )
    assert (stream.status, stream.shards, stream.slow_mode_seconds, stream.room_cap) == ("live", 10, 1, 5000)
    assert streams.get("S1") == stream


def test_only_the_host_ends_and_ending_twice_returns_the_ended_stream() -> None:
    # Given a live stream
    streams, sales = FakeStreams(make_stream()), FakeSales()
    # When a viewer tries to end it
    with pytest.raises(NotHostError):
        logic.end_stream(streams, sales, stream_id="S1", caller="viewer", message_id="M1", now_ms=NOW)
    # Then nothing ended and no sale was closed
    assert streams.get("S1").live and sales.closed == []  # type: ignore[union-attr]
    # When the host ends it twice
    first = logic.end_stream(streams, sales, stream_id="S1", caller="host", message_id="M1", now_ms=NOW)
    second = logic.end_stream(streams, sales, stream_id="S1", caller="host", message_id="M2", now_ms=NOW + 5)
    # Then it ended once, with one stream_ended message
    assert first.status == second.status == "ended" and first.ended_at == second.ended_at
    assert [m["type"] for m in streams.ended_messages] == ["stream_ended"]
    # And each end closed the stream's sales (the second one finds nothing left to close)
    assert sales.closed == [("S1", NOW), ("S1", NOW + 5)]


def test_a_retried_end_closes_the_sales_a_crash_left_open() -> None:
    # Given a live stream whose sales cannot be closed right now
    streams, sales = FakeStreams(make_stream()), FakeSales()
    sales.fail = True
    # When the host ends it
    with pytest.raises(RuntimeError):
        logic.end_stream(streams, sales, stream_id="S1", caller="host", message_id="M1", now_ms=NOW)
    # Then the stream has ended but no sale was closed
    assert not streams.get("S1").live and sales.closed == []  # type: ignore[union-attr]
    # When the host retries once closing works again
    sales.fail = False
    again = logic.end_stream(streams, sales, stream_id="S1", caller="host", message_id="M2", now_ms=NOW + 5)
    # Then the sales are closed and the stream ended only once
    assert again.status == "ended" and sales.closed == [("S1", NOW + 5)]
    assert [m["message_id"] for m in streams.ended_messages] == ["M1"]


def test_ending_an_unknown_stream_is_404() -> None:
    sales = FakeSales()
    with pytest.raises(StreamNotFoundError):
        logic.end_stream(FakeStreams(), sales, stream_id="nope", caller="host", message_id="M", now_ms=NOW)
    assert sales.closed == []


def test_settings_need_a_field_and_normalise_banned_words() -> None:
    streams = FakeStreams(make_stream())
    with pytest.raises(ValidationError):
        logic.update_settings(streams, stream_id="S1", caller="host", request=StreamSettingsRequest())
    updated = logic.update_settings(
        streams,
        stream_id="S1",
        caller="host",
        request=StreamSettingsRequest(banned_words=[" Scam ", "scam", "SPAM"]),
    )
    assert updated.banned_words == ("scam", "spam")
    with pytest.raises(ValidationError):
        logic.update_settings(
            streams, stream_id="S1", caller="host", request=StreamSettingsRequest(banned_words=["   "])
        )


def test_a_larger_expected_peak_grows_k_and_a_smaller_one_never_shrinks_it() -> None:
    # Given a live room with K = 1
    streams = FakeStreams(make_stream(shards=1))

    def resize(peak: int, caller: str = "host") -> int:
        request = StreamSettingsRequest(expected_peak_msgs_per_second=peak)
        return logic.update_settings(streams, stream_id="S1", caller=caller, request=request).shards

    # When a viewer asks for more shards; Then refused
    with pytest.raises(NotHostError):
        resize(5000, caller="viewer")
    # When the host expects 5,000 msgs/s, then only 1,000
    assert resize(5000) == 10
    assert resize(1000) == 10
    # Then the room remembers every K it had, for finding messages posted under each
    assert streams.get("S1").shard_counts == (1, 10)  # type: ignore[union-attr]
    # And once the stream ended, nothing grows
    logic.end_stream(streams, FakeSales(), stream_id="S1", caller="host", message_id="M1", now_ms=NOW)
    assert resize(25_000) == 10


def test_bans_need_host_or_moderator_and_never_hit_the_host() -> None:
    streams = FakeStreams(make_stream(moderators=frozenset({"mod"})))
    with pytest.raises(NotModeratorError):
        logic.set_ban(streams, stream_id="S1", caller="viewer", user_id="troll", on=True, now_ms=NOW)
    with pytest.raises(UnprocessableError):
        logic.set_ban(streams, stream_id="S1", caller="mod", user_id="host", on=True, now_ms=NOW)
    logic.set_ban(streams, stream_id="S1", caller="mod", user_id="troll", on=True, now_ms=NOW)
    assert ("S1", "troll") in streams.bans
