"""In-memory social stores with the same contract as ``chalicelib.social.dal.DynamoGraph``:
each write checks what the caller assumed and fails like the conditional transaction would."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.core.clock import iso_from_ms
from chalicelib.social.access import PairState
from chalicelib.social.logic import (
    BlockedError,
    Edges,
    Listed,
    ListKind,
    ListPage,
    Profile,
    Settings,
    StateChangedError,
)
from chalicelib.social.logic_phone import Verification, VerificationChangedError


@dataclass
class FakeGraph:
    """Graph, phone and suggestion stores over dicts. ``before_write`` lets a test race a write."""

    follows: dict[tuple[str, str], int] = field(default_factory=dict)
    friends: dict[tuple[str, str], int] = field(default_factory=dict)
    blocks: dict[tuple[str, str], int] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)
    phone_of: dict[str, str] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)  # user → region of their verified number
    quota: dict[tuple[str, int], int] = field(default_factory=dict)
    matches: dict[tuple[str, str], int] = field(default_factory=dict)
    before_write: Callable[[], object] | None = None
    calls: list[str] = field(default_factory=list)

    # --- helpers ---
    def _race(self) -> None:
        hook, self.before_write = self.before_write, None
        if hook:
            hook()

    def _bump(self, user: str, **deltas: int) -> None:
        p = self.profiles.get(user, Profile(user_id=user))
        self.profiles[user] = replace(p, **{k: getattr(p, k) + v for k, v in deltas.items()})

    # --- GraphStore ---
    def edges(self, a: str, b: str) -> Edges:
        self.calls.append("edges")
        follows, blocks = self.follows, self.blocks
        return Edges((a, b) in follows, (b, a) in follows, (a, b) in blocks, (b, a) in blocks)

    def write_follow(self, a: str, b: str, *, reverse: bool, at_ms: int) -> bool:
        self._race()
        if (a, b) in self.follows:
            return False
        if (a, b) in self.blocks or (b, a) in self.blocks:
            raise BlockedError()
        if ((b, a) in self.follows) != reverse:
            raise StateChangedError()
        self.follows[(a, b)] = at_ms
        self._bump(a, following_count=1, friends_count=int(reverse))
        self._bump(b, followers_count=1, friends_count=int(reverse))
        if reverse:
            self.friends[(a, b)] = self.friends[(b, a)] = at_ms
        return True

    def write_unfollow(self, a: str, b: str, *, reverse: bool) -> bool:
        self._race()
        if (a, b) not in self.follows:
            return False
        if ((b, a) in self.follows) != reverse:
            raise StateChangedError()
        del self.follows[(a, b)]
        self._bump(a, following_count=-1, friends_count=-int(reverse))
        self._bump(b, followers_count=-1, friends_count=-int(reverse))
        if reverse:
            del self.friends[(a, b)], self.friends[(b, a)]
        return True

    def write_block(self, a: str, b: str, *, a_follows: bool, b_follows: bool, at_ms: int) -> bool:
        self._race()
        if (a, b) in self.blocks:
            return False
        if ((a, b) in self.follows) != a_follows or ((b, a) in self.follows) != b_follows:
            raise StateChangedError()
        both = a_follows and b_follows
        self.blocks[(a, b)] = at_ms
        self.follows.pop((a, b), None)
        self.follows.pop((b, a), None)
        self.friends.pop((a, b), None)
        self.friends.pop((b, a), None)
        self._bump(a, following_count=-a_follows, followers_count=-b_follows, friends_count=-both)
        self._bump(b, following_count=-b_follows, followers_count=-a_follows, friends_count=-both)
        return True

    def delete_block(self, a: str, b: str) -> None:
        self.blocks.pop((a, b), None)

    def profile(self, user_id: str) -> Profile:
        return self.profiles.get(user_id, Profile(user_id=user_id))

    def update_settings(
        self,
        user_id: str,
        dm_policy: str | None,
        push_previews: bool | None,
        show_activity_status: bool | None = None,
    ) -> Settings:
        p = self.profile(user_id)
        changes: dict[str, Any] = {}
        if show_activity_status is not None:
            changes["show_activity_status"] = show_activity_status
        if dm_policy is not None:
            changes["dm_policy"] = dm_policy
        if push_previews is not None:
            changes["push_previews"] = push_previews
        self.profiles[user_id] = replace(p, **changes)
        after = self.profiles[user_id]
        return Settings(
            dm_policy=after.dm_policy,
            push_previews=after.push_previews,
            show_activity_status=after.show_activity_status,
        )

    def _listing(self, user_id: str, kind: ListKind) -> list[tuple[int, str]]:
        if kind == "following":
            return [(t, b) for (a, b), t in self.follows.items() if a == user_id]
        if kind == "followers":
            return [(t, a) for (a, b), t in self.follows.items() if b == user_id]
        if kind == "friends":
            return [(t, b) for (a, b), t in self.friends.items() if a == user_id]
        return [(t, b) for (a, b), t in self.blocks.items() if a == user_id]

    def list_edges(
        self, user_id: str, kind: ListKind, limit: int, position: dict[str, Any] | None
    ) -> ListPage:
        ordered = sorted(self._listing(user_id, kind), reverse=True)
        start = int(position["offset"]) if position else 0
        page = ordered[start : start + limit]
        more = start + limit < len(ordered)
        return ListPage(
            items=[Listed(user_id=u, since=iso_from_ms(t)) for t, u in page],
            next_position={"offset": start + limit} if more else None,
        )

    def pair_states(self, sender: str, recipients: Sequence[str]) -> dict[str, PairState]:
        self.calls.append("pair_states")
        return {
            r: PairState(
                sender_follows=(sender, r) in self.follows,
                recipient_follows=(r, sender) in self.follows,
                sender_blocked_recipient=(sender, r) in self.blocks,
                recipient_blocked_sender=(r, sender) in self.blocks,
                recipient_policy=self.profile(r).dm_policy,
            )
            for r in recipients
        }

    # --- PhoneStore ---
    def seed_phone(self, user_id: str, phone_hash: str, region: str | None = None) -> None:
        """A verified number (what ``FakeVerifications.claim`` leaves behind)."""
        holder = self.phones.get(phone_hash)
        if holder is not None and holder != user_id:
            self.phone_of.pop(holder, None)
        old = self.phone_of.get(user_id)
        if old and old != phone_hash:
            del self.phones[old]
        self.phones[phone_hash] = user_id
        self.phone_of[user_id] = phone_hash
        if region:
            self.regions[user_id] = region

    def home_region(self, user_id: str) -> str | None:
        return self.regions.get(user_id) if user_id in self.phone_of else None

    def clear_phone(self, user_id: str) -> None:
        old = self.phone_of.pop(user_id, None)
        if old:
            self.phones.pop(old, None)

    def charge_contacts(self, user_id: str, day: int, count: int, limit: int, expires_at: int) -> bool:
        used = self.quota.get((user_id, day), 0)
        if used + count > limit:
            return False
        self.quota[(user_id, day)] = used + count
        return True

    def owners(self, hashes: Sequence[str]) -> dict[str, str]:
        return {h: self.phones[h] for h in hashes if h in self.phones}

    def blocked_either_way(self, user_id: str, others: Sequence[str]) -> set[str]:
        return {o for o in others if (user_id, o) in self.blocks or (o, user_id) in self.blocks}

    def remember_matches(self, user_id: str, others: Sequence[str], expires_at: int) -> None:
        for o in others:
            self.matches[(user_id, o)] = expires_at

    # --- SuggestionStore ---
    def contact_matches(self, user_id: str, now_s: int, limit: int) -> list[str]:
        return [o for (u, o), exp in self.matches.items() if u == user_id and exp > now_s][:limit]

    def recent_friends(self, user_id: str, limit: int) -> list[str]:
        return [u for _, u in sorted(self._listing(user_id, "friends"), reverse=True)][:limit]

    def friends_of(self, users: Sequence[str], per_user: int) -> dict[str, list[str]]:
        self.calls.append(f"friends_of:{len(users)}")
        return {u: self.recent_friends(u, per_user) for u in users}

    def excluded(self, user_id: str, candidates: Sequence[str]) -> set[str]:
        self.calls.append(f"excluded:{len(candidates)}")
        return {
            c
            for c in candidates
            if (user_id, c) in self.follows or (user_id, c) in self.blocks or (c, user_id) in self.blocks
        }


@dataclass
class FakeVerifications:
    """``logic_phone.VerificationStore`` over dicts, holding numbers in a :class:`FakeGraph`."""

    graph: FakeGraph
    items: dict[str, Verification] = field(default_factory=dict)
    quotas: dict[tuple[str, str, int], int] = field(default_factory=dict)
    race_claim: bool = False

    def start(
        self, verification: Verification, day: int, user_limit: int, number_limit: int, quota_expires_s: int
    ) -> bool:
        user_key = ("user", verification.user_id, day)
        number_key = ("number", verification.phone_hash, day)
        if self.quotas.get(user_key, 0) >= user_limit or self.quotas.get(number_key, 0) >= number_limit:
            return False
        self.quotas[user_key] = self.quotas.get(user_key, 0) + 1
        self.quotas[number_key] = self.quotas.get(number_key, 0) + 1
        self.items[verification.verification_id] = verification
        return True

    def get(self, verification_id: str) -> Verification | None:
        return self.items.get(verification_id)

    def wrong_code(self, verification: Verification, limit: int) -> int:
        current = self.items.get(verification.verification_id)
        if current is None or current.attempts >= limit:
            return limit
        self.items[current.verification_id] = replace(current, attempts=current.attempts + 1)
        return current.attempts + 1

    def claim(self, verification: Verification) -> None:
        if self.race_claim:  # another verify consumed it first
            self.race_claim = False
            self.items.pop(verification.verification_id, None)
            raise VerificationChangedError()
        if self.items.pop(verification.verification_id, None) is None:
            raise VerificationChangedError()
        self.graph.seed_phone(verification.user_id, verification.phone_hash, verification.region)


@dataclass
class FakeSms:
    """Texts sent, in order: (number, text)."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, e164: str, text: str) -> None:
        self.sent.append((e164, text))

    def code_to(self, e164: str) -> str:
        """The last code texted to a number."""
        import re

        text = [t for n, t in self.sent if n == e164][-1]
        match = re.search(r"\b(\d{6})\b", text)
        assert match, text
        return match.group(1)
