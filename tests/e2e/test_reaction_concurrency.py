"""Reaction counts stay exact under concurrent reactions, against the serialised moto server."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.env import functions_environment
from tests.support.moto import moto_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def endpoint() -> Iterator[str]:
    """A fresh serialised moto server with the infra deployed; settings point at it."""
    with moto_server() as url, functions_environment(url):
        yield url


def test_twenty_members_reacting_at_once_are_counted_exactly(endpoint: str) -> None:
    from chalicelib.core.clock import now_ms
    from chalicelib.core.ids import new_ulid
    from chalicelib.dm import dal, logic, reactions
    from chalicelib.dm.models import CreateConversation, SendMessage
    from chalicelib.social.access import PairState

    class Friends:
        def pair_states(self, sender: str, recipients: Sequence[str]) -> dict[str, PairState]:
            return {r: PairState(sender_follows=True, recipient_follows=True) for r in recipients}

    # Given a group of 21 and alice's message
    members = [f"m{i:02d}" for i in range(20)]
    clock = logic.Clock(now_ms=now_ms, new_id=lambda _ms: new_ulid())
    view, _ = logic.create_conversation(
        dal.store(), Friends(), clock, "alice", CreateConversation(member_ids=members, title="g")
    )
    cid = view["conversation_id"]
    message, _ = logic.send_message(
        dal.store(), dal.media(), clock, "alice", cid, SendMessage(client_message_id="c", text="hi")
    )
    mid = message["message_id"]

    # When all 20 react 👍 and 🔥 at once (each twice: a retry), then half take 🔥 back at once
    def react(job: tuple[str, str]) -> None:
        reactions.react(dal.store(), job[0], cid, mid, job[1], now_ms())

    def unreact(user: str) -> None:
        reactions.unreact(dal.store(), user, cid, mid, "🔥")

    jobs = [(u, e) for u in members for e in ("👍", "🔥")] * 2
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(react, jobs))
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(unreact, members[:10]))

    # Then the counts are exact, and each member's own reactions are marked
    page = logic.list_messages(dal.store(), dal.media(), None, "s3cret-key", "m00", cid, 10, None, None)
    counts = {r["emoji"]: (r["count"], r["me"]) for r in page["items"][0]["reactions"]}
    assert counts == {"👍": (20, True), "🔥": (10, False)}
    page = logic.list_messages(dal.store(), dal.media(), None, "s3cret-key", "m19", cid, 10, None, None)
    assert {r["emoji"]: r["me"] for r in page["items"][0]["reactions"]} == {"👍": True, "🔥": True}
