"""Unit: the deleted-account gate's per-container cache (no network: the marker read is faked)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.core import deleted
from chalicelib.core.auth import Identity


class Marker:
    """Stands in for the GetItem of ``ACCOUNT#u / DELETION``; counts reads."""

    def __init__(self) -> None:
        self.deleted: set[str] = set()
        self.reads: list[tuple[str, bool]] = []

    def __call__(self, user_id: str, *, consistent: bool = False) -> bool:
        self.reads.append((user_id, consistent))
        return user_id in self.deleted


@pytest.fixture
def marker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Marker]:
    fake = Marker()
    deleted.reset()
    monkeypatch.setattr(deleted, "_marker_exists", fake)
    yield fake
    deleted.reset()


def test_an_active_user_costs_one_read_per_cache_period(
    marker: Marker, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr(deleted.time, "monotonic", lambda: clock[0])
    for _ in range(5):
        deleted.ensure_active("ann")
    assert marker.reads == [("ann", False)]
    clock[0] += deleted.ACTIVE_TTL_SECONDS + 0.1
    deleted.ensure_active("ann")
    assert len(marker.reads) == 2


def test_a_deleted_user_is_refused_and_never_read_again(marker: Marker) -> None:
    marker.deleted.add("bob")
    for _ in range(3):
        with pytest.raises(deleted.AccountDeletedError) as err:
            deleted.ensure_active("bob")
        assert (err.value.status, err.value.code) == (401, "account_deleted")
    assert marker.reads == [("bob", False)]


def test_the_container_that_took_the_delete_refuses_at_once_despite_its_cache(marker: Marker) -> None:
    deleted.ensure_active("cat")  # cached as active
    deleted.remember_deleted("cat")
    with pytest.raises(deleted.AccountDeletedError):
        deleted.ensure_active("cat")
    assert len(marker.reads) == 1


def test_websocket_connect_reads_the_marker_fresh_and_consistent(marker: Marker) -> None:
    class Verifier:
        def identity(self, token: str) -> Identity:
            return Identity(user_id=token, expires_at=2**31)

    deleted.ensure_active("dan")  # cached as active ...
    marker.deleted.add("dan")  # ... then deleted through another container
    with pytest.raises(deleted.AccountDeletedError):
        deleted.ActiveUserVerifier(Verifier()).verify("dan")
    assert marker.reads[-1] == ("dan", True)
