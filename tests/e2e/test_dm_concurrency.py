"""Idempotent send under concurrent identical retries, against the serialised moto server."""

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


def test_ten_concurrent_identical_retries_store_exactly_one_message(endpoint: str) -> None:
    from chalicelib.core.clock import now_ms
    from chalicelib.core.ids import new_ulid
    from chalicelib.dm import dal, logic
    from chalicelib.dm.models import CreateConversation, SendMessage
    from chalicelib.social.access import PairState

    class Friends:
        def pair_states(self, sender: str, recipients: Sequence[str]) -> dict[str, PairState]:
            return {r: PairState(sender_follows=True, recipient_follows=True) for r in recipients}

    clock = logic.Clock(now_ms=now_ms, new_id=lambda _ms: new_ulid())
    view, _ = logic.create_conversation(
        dal.store(), Friends(), clock, "alice", CreateConversation(member_ids=["bob"])
    )
    cid = view["conversation_id"]
    request = SendMessage(client_message_id="retry-me", text="only once")

    # When the same message is sent 10 times at once
    def send(_: int) -> tuple[str, bool]:
        message, created = logic.send_message(dal.store(), dal.media(), clock, "alice", cid, request)
        return str(message["message_id"]), created

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(send, range(10)))

    # Then exactly one was created, every caller got that same message, and history holds one
    assert sum(created for _, created in results) == 1
    assert len({mid for mid, _ in results}) == 1
    items, _ = dal.store().history(cid, 100, None, None)
    assert [m["text"] for m in items] == ["only once"]
