"""Find friends from real life: contact matching and follow suggestions (numbers are verified
by SMS in ``logic_phone``).

Only HMAC-SHA256(secret, E.164 number) is ever stored; uploaded numbers are not kept.
Matches are remembered (30 days) to rank suggestions.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from chalicelib.core.errors import RateLimitedError, ValidationError
from chalicelib.social.ports import PhoneStore, SuggestionStore

DAILY_CONTACTS_LIMIT = 1000
MATCH_RETENTION_SECONDS = 30 * 24 * 3600
DAY_SECONDS = 24 * 3600
MAX_FRIENDS_SCANNED = 200
FRIENDS_PER_FRIEND = 50
MAX_CONTACT_MATCHES_READ = 200
MAX_CANDIDATES_CHECKED = 330
CHECK_CHUNK = 33  # 3 keys per candidate → 99 keys, one BatchGetItem per chunk


class ContactsRateLimitedError(RateLimitedError):
    """Too many numbers matched today."""

    code = "rate_limited"


def phone_hash(secret: str, e164: str) -> str:
    """HMAC-SHA256 of a normalised number: what we store instead of the number."""
    return hmac.new(secret.encode(), e164.encode(), hashlib.sha256).hexdigest()


def clear_phone(store: PhoneStore, user_id: str) -> None:
    """Opt out of phone discovery; idempotent."""
    store.clear_phone(user_id)


@dataclass(frozen=True)
class Match:
    """A submitted number (as the client sent it) that belongs to an opted-in user."""

    phone: str
    user_id: str


def match_contacts(
    store: PhoneStore,
    secret: str,
    user_id: str,
    phones: Sequence[str],
    now_s: int,
    daily_limit: int = DAILY_CONTACTS_LIMIT,
    region: str | None = None,
) -> list[Match]:
    """Match a phone book against verified numbers, excluding the caller and blocks either way.

    Numbers are read as people write them (``chalicelib.social.phones``): national ones in
    ``region``, else in the region of the caller's verified number, else only international
    ones; invalid ones are skipped. The keyed hash is of the E.164 form, so "(212) 555-0123"
    (US) and "+1 212 555 0123" match the same person. Every submitted number (valid or not)
    counts against the daily quota, so the phone space cannot be enumerated; over the quota →
    429 with seconds until UTC midnight.
    """
    from chalicelib.social.phones import known_region, to_e164

    if region is not None:
        parsed_region = known_region(region)
        if parsed_region is None:
            raise ValidationError("region must be an ISO 3166-1 alpha-2 code, like 'US' or 'GB'.")
        region = parsed_region
    if not phones:
        return []
    day = now_s // DAY_SECONDS
    next_midnight = (day + 1) * DAY_SECONDS
    if not store.charge_contacts(
        user_id, day, len(phones), daily_limit, expires_at=next_midnight + DAY_SECONDS
    ):
        raise ContactsRateLimitedError(
            f"At most {daily_limit} numbers can be matched per day.", retry_after=next_midnight - now_s
        )
    if region is None:
        region = store.home_region(user_id)
    hashed = {raw: phone_hash(secret, e164) for raw in phones if (e164 := to_e164(raw, region))}
    if not hashed:
        return []
    owners = store.owners(list(dict.fromkeys(hashed.values())))
    matched = list(dict.fromkeys(u for u in owners.values() if u != user_id))
    hidden = store.blocked_either_way(user_id, matched) if matched else set()
    visible = [u for u in matched if u not in hidden]
    if visible:
        store.remember_matches(user_id, visible, expires_at=now_s + MATCH_RETENTION_SECONDS)
    allowed = set(visible)
    return [Match(phone=raw, user_id=owners[h]) for raw, h in hashed.items() if owners.get(h) in allowed]


@dataclass(frozen=True)
class Suggestion:
    """Someone to follow and why."""

    user_id: str
    reason: Literal["contact", "friends_of_friends"]
    mutual_friends: int


def _chunks(items: Sequence[tuple[str, str]], size: int) -> Iterable[Sequence[tuple[str, str]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def suggestions(store: SuggestionStore, user_id: str, limit: int, now_s: int) -> list[Suggestion]:
    """Contact matches not yet followed first, then friends of friends by mutual friends.

    Bounded work: the caller's 200 most recent friends, 50 recent friends of each, and at most
    330 candidates checked against follows/blocks (33 per batched read).
    """
    contacts = store.contact_matches(user_id, now_s, MAX_CONTACT_MATCHES_READ)
    friends = store.recent_friends(user_id, MAX_FRIENDS_SCANNED)
    friend_set = set(friends)
    mutual: Counter[str] = Counter()
    for theirs in store.friends_of(friends, FRIENDS_PER_FRIEND).values() if friends else ():
        mutual.update(c for c in set(theirs) if c != user_id and c not in friend_set)
    # Friends are followed by definition, so they are skipped without a read.
    seen = {user_id, *friend_set}
    ordered: list[tuple[str, str]] = []
    for candidate in contacts:
        if candidate not in seen:
            seen.add(candidate)
            ordered.append((candidate, "contact"))
    for candidate, _count in sorted(mutual.items(), key=lambda kv: (-kv[1], kv[0])):
        if candidate not in seen:
            seen.add(candidate)
            ordered.append((candidate, "friends_of_friends"))
    result: list[Suggestion] = []
    for chunk in _chunks(ordered[:MAX_CANDIDATES_CHECKED], CHECK_CHUNK):
        excluded = store.excluded(user_id, [c for c, _ in chunk])
        for candidate, reason in chunk:
            if candidate in excluded:
                continue
            result.append(
                Suggestion(
                    user_id=candidate,
                    reason="contact" if reason == "contact" else "friends_of_friends",
                    mutual_friends=mutual.get(candidate, 0),
                )
            )
            if len(result) >= limit:
                return result
    return result
