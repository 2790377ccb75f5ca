"""Graph rules with an in-memory store: follows, friends, blocks, races, relationship, cursors."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import ForbiddenError, InvalidCursorError, ValidationError
from chalicelib.social import logic
from chalicelib.social.access import PairState, Reach, can_message, can_message_many, decide
from chalicelib.social.logic import Profile, StateChangedError
from tests.unit.social.fakes import FakeGraph

T0 = 1_780_000_000_000
SECRET = "unit-cursor-secret"


def counts(store: FakeGraph, user: str) -> tuple[int, int, int]:
    p = logic.me(store, user)
    return p.followers_count, p.following_count, p.friends_count


def test_mutual_follow_makes_friends_and_unfollow_breaks_it() -> None:
    # Given
    store = FakeGraph()
    logic.follow(store, "a", "b", T0)
    assert not logic.relationship(store, "a", "b").friends
    # When b follows back
    logic.follow(store, "b", "a", T0 + 1)
    # Then
    assert logic.relationship(store, "a", "b").friends
    assert counts(store, "a") == (1, 1, 1)
    assert counts(store, "b") == (1, 1, 1)
    # When a unfollows
    logic.unfollow(store, "a", "b")
    # Then friendship ends on both sides, b still follows a
    assert logic.relationship(store, "b", "a") == logic.RelationshipView(
        following=True, followed_by=False, friends=False, blocked=False
    )
    assert counts(store, "a") == (1, 0, 0)
    assert counts(store, "b") == (0, 1, 0)


def test_repeated_follow_and_unfollow_are_idempotent() -> None:
    # Given
    store = FakeGraph()
    # When
    results = [logic.follow(store, "a", "b", T0) for _ in range(3)]
    # Then
    assert results == [True, False, False]
    assert counts(store, "b") == (1, 0, 0)
    # When
    assert [logic.unfollow(store, "a", "b") for _ in range(2)] == [True, False]
    # Then
    assert counts(store, "b") == (0, 0, 0)
    assert counts(store, "a") == (0, 0, 0)


@pytest.mark.parametrize("verb", [logic.follow, logic.block])
def test_acting_on_yourself_is_a_validation_error(verb: object) -> None:
    store = FakeGraph()
    with pytest.raises(ValidationError):
        verb(store, "a", "a", T0)  # type: ignore[operator]
    assert store.follows == {} and store.blocks == {}


def test_unfollow_and_unblock_yourself_are_validation_errors() -> None:
    store = FakeGraph()
    with pytest.raises(ValidationError):
        logic.unfollow(store, "a", "a")
    with pytest.raises(ValidationError):
        logic.unblock(store, "a", "a")


def test_a_block_either_way_forbids_following() -> None:
    # Given a blocked b
    store = FakeGraph()
    logic.block(store, "a", "b", T0)
    # When / Then neither may follow the other
    with pytest.raises(ForbiddenError):
        logic.follow(store, "b", "a", T0)
    with pytest.raises(ForbiddenError):
        logic.follow(store, "a", "b", T0)
    assert store.follows == {}


def test_block_removes_follows_both_ways_and_counters() -> None:
    # Given friends a and b, and c following a
    store = FakeGraph()
    logic.follow(store, "a", "b", T0)
    logic.follow(store, "b", "a", T0)
    logic.follow(store, "c", "a", T0)
    # When a blocks b (twice)
    assert logic.block(store, "a", "b", T0) is True
    assert logic.block(store, "a", "b", T0) is False
    # Then only c's follow remains
    assert counts(store, "a") == (1, 0, 0)
    assert counts(store, "b") == (0, 0, 0)
    assert store.friends == {}
    assert logic.relationship(store, "a", "b").blocked is True


def test_relationship_never_reveals_that_the_other_blocked_the_caller() -> None:
    # Given b blocked a
    store = FakeGraph()
    logic.block(store, "b", "a", T0)
    # When a looks at b
    view = logic.relationship(store, "a", "b")
    # Then nothing says a is blocked
    assert view == logic.RelationshipView(following=False, followed_by=False, friends=False, blocked=False)


def test_follow_retries_when_the_reverse_follow_lands_in_between() -> None:
    # Given b's follow of a commits between a's read and a's write
    store = FakeGraph()
    store.before_write = lambda: logic.follow(store, "b", "a", T0)
    # When a follows b
    logic.follow(store, "a", "b", T0)
    # Then the retry saw the reverse edge: friends, counted once each
    assert logic.relationship(store, "a", "b").friends
    assert counts(store, "a") == (1, 1, 1)
    assert counts(store, "b") == (1, 1, 1)


def test_unfollow_retries_when_the_reverse_unfollow_lands_in_between() -> None:
    # Given friends, and b unfollows a between a's read and a's write
    store = FakeGraph()
    logic.follow(store, "a", "b", T0)
    logic.follow(store, "b", "a", T0)
    store.before_write = lambda: logic.unfollow(store, "b", "a")
    # When a unfollows b
    logic.unfollow(store, "a", "b")
    # Then no friend count is removed twice
    assert counts(store, "a") == (0, 0, 0)
    assert counts(store, "b") == (0, 0, 0)


def test_follow_is_forbidden_when_a_block_lands_in_between() -> None:
    # Given b blocks a between a's read and a's write
    store = FakeGraph()
    store.before_write = lambda: logic.block(store, "b", "a", T0)
    # When / Then
    with pytest.raises(ForbiddenError):
        logic.follow(store, "a", "b", T0)
    assert counts(store, "b") == (0, 0, 0)


def test_block_retries_when_a_follow_lands_in_between() -> None:
    # Given b follows a between a's read and a's block
    store = FakeGraph()
    store.before_write = lambda: logic.follow(store, "b", "a", T0)
    # When
    logic.block(store, "a", "b", T0)
    # Then the follow was removed with the block
    assert counts(store, "a") == (0, 0, 0)
    assert counts(store, "b") == (0, 0, 0)


class AlwaysChanging(FakeGraph):
    """A store where the pair changes between every read and write."""

    def write_follow(self, a: str, b: str, *, reverse: bool, at_ms: int) -> bool:
        raise StateChangedError()


def test_retries_are_bounded() -> None:
    # Given
    store = AlwaysChanging()
    # When / Then it gives up with a 409 after a few attempts
    with pytest.raises(StateChangedError) as err:
        logic.follow(store, "a", "b", T0)
    assert err.value.status == 409
    assert store.calls.count("edges") == logic.MAX_ATTEMPTS


def test_settings_need_at_least_one_field_and_keep_the_other() -> None:
    store = FakeGraph()
    with pytest.raises(ValidationError):
        logic.update_settings(store, "a", None, None)
    logic.update_settings(store, "a", "no_one", None)
    after = logic.update_settings(store, "a", None, False)
    assert (after.dm_policy, after.push_previews) == ("no_one", False)


def test_list_pages_newest_first_with_cursor_bound_to_caller_and_list() -> None:
    # Given z has three followers made at increasing times
    store = FakeGraph()
    for i, fan in enumerate(["f1", "f2", "f3"]):
        logic.follow(store, fan, "z", T0 + i)
    # When z reads followers two at a time
    first, cursor = logic.list_page(store, SECRET, "z", "followers", 2, None)
    assert cursor is not None
    second, end = logic.list_page(store, SECRET, "z", "followers", 2, cursor)
    # Then newest first, then the rest, then no cursor
    assert [i.user_id for i in first + second] == ["f3", "f2", "f1"]
    assert end is None
    # And the cursor is useless to anyone else, on any other list, or when altered
    with pytest.raises(InvalidCursorError):
        logic.list_page(store, SECRET, "f1", "followers", 2, cursor)
    with pytest.raises(InvalidCursorError):
        logic.list_page(store, SECRET, "z", "following", 2, cursor)
    with pytest.raises(InvalidCursorError):
        logic.list_page(store, SECRET, "z", "followers", 2, "x" + cursor[1:])


# --- DM reachability: each policy against friend / non-friend / block -------------------------


@pytest.mark.parametrize(
    ("policy", "friends", "expected"),
    [
        ("everyone", True, Reach.ALLOWED),
        ("everyone", False, Reach.ALLOWED),
        ("friends", True, Reach.ALLOWED),
        ("friends", False, Reach.REQUEST),
        ("no_one", True, Reach.DENIED),
        ("no_one", False, Reach.DENIED),
    ],
)
def test_each_dm_policy_against_friend_and_non_friend(policy: str, friends: bool, expected: Reach) -> None:
    # Given a recipient with this policy, friends with the sender or not
    store = FakeGraph()
    logic.update_settings(store, "r", policy, None)
    logic.follow(store, "s", "r", T0)
    if friends:
        logic.follow(store, "r", "s", T0)
    # When / Then
    assert can_message(store, "s", "r") is expected


@pytest.mark.parametrize("blocker", ["s", "r"])
def test_a_block_either_way_denies_messaging_both_ways_even_with_everyone_policy(blocker: str) -> None:
    store = FakeGraph()
    for user in ("s", "r"):
        logic.update_settings(store, user, "everyone", None)
    other = "r" if blocker == "s" else "s"
    logic.block(store, blocker, other, T0)
    assert can_message(store, "s", "r") is Reach.DENIED
    assert can_message(store, "r", "s") is Reach.DENIED


def test_messaging_many_recipients_is_one_graph_read() -> None:
    # Given
    store = FakeGraph()
    logic.update_settings(store, "open", "everyone", None)
    logic.update_settings(store, "closed", "no_one", None)
    # When
    reach = can_message_many(store, "s", ["open", "closed", "stranger", "s"])
    # Then
    assert reach == {
        "open": Reach.ALLOWED,
        "closed": Reach.DENIED,
        "stranger": Reach.REQUEST,
        "s": Reach.DENIED,
    }
    assert store.calls.count("pair_states") == 1


def test_decide_treats_a_missing_policy_as_friends() -> None:
    assert decide(PairState()) is Reach.REQUEST
    assert decide(PairState(sender_follows=True, recipient_follows=True)) is Reach.ALLOWED


def test_profile_defaults() -> None:
    # A user who never wrote anything has the "friends" policy, previews on and zero counters
    assert logic.me(FakeGraph(), "x") == Profile(
        user_id="x", dm_policy="friends", push_previews=True, followers_count=0, following_count=0
    )
