"""Data access of the social graph: the only social module that knows keys and boto3.

Every graph write is ONE TransactWriteItems whose conditions encode what the logic read
(edge absent/present, reverse edge, blocks), so concurrent writers cannot double-count or leave
a wrong friend state: a cancelled transaction is translated into "already done",
:class:`StateChangedError` (logic re-reads and retries) or :class:`BlockedError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.core import clients, keys, tx
from chalicelib.core.clock import iso_from_ms
from chalicelib.core.ddb import (
    BATCH_GET_MAX_KEYS,
    ConditionFailed,
    Item,
    TransactionCancelled,
    batch_get,
    batch_put,
    call,
    conditional,
    deserialize,
    get_item,
    item_key,
    query_page,
    serialize,
    values,
)
from chalicelib.core.errors import UnavailableError
from chalicelib.core.ids import new_ulid
from chalicelib.core.settings import get_settings
from chalicelib.social.access import DEFAULT_DM_POLICY, PairState
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

FRIENDS_OF_WORKERS = 16
TRANSACT_ATTEMPTS = 4
_LISTINGS: dict[str, str] = {
    "following": "FOLLOWING",
    "followers": "FOLLOWERS",
    "friends": "FRIENDS",
    "blocks": "BLOCKS",
}
_NOT_EXISTS = "attribute_not_exists(pk)"
_EXISTS = "attribute_exists(pk)"
# A phone opt-in item the user may write or delete: absent, or already theirs.
_PHONE_IS_MINE = "attribute_not_exists(pk) OR user_id = :uid"


def pair_state_keys(sender: str, recipients: Sequence[str]) -> list[keys.Key]:
    """The keys that decide each (sender, recipient) pair, 5 per recipient: the recipient's
    profile (DM policy), both follows and both blocks. Read them with one BatchGetItem per 20
    recipients, then build the states with :func:`pair_states_from`."""
    return [
        k
        for r in recipients
        for k in (
            keys.profile(r),
            keys.following(sender, r),
            keys.following(r, sender),
            keys.block(sender, r),
            keys.block(r, sender),
        )
    ]


def pair_states_from(
    found: Mapping[tuple[str, str], Item], sender: str, recipients: Sequence[str]
) -> dict[str, PairState]:
    """Pair state for each recipient from items read under :func:`pair_state_keys` (``found`` is
    indexed by ``(pk, sk)`` as :func:`~chalicelib.core.ddb.batch_get` returns it; extra items are ignored)."""

    def has(k: keys.Key) -> bool:
        return item_key(k) in found

    states = {}
    for r in recipients:
        profile = found.get(item_key(keys.profile(r)), {})
        states[r] = PairState(
            sender_follows=has(keys.following(sender, r)),
            recipient_follows=has(keys.following(r, sender)),
            sender_blocked_recipient=has(keys.block(sender, r)),
            recipient_blocked_sender=has(keys.block(r, sender)),
            recipient_policy=str(profile.get("dm_policy", DEFAULT_DM_POLICY)),
        )
    return states


def _settings(item: Item | None) -> Settings:
    """The settings on a profile item (defaults when absent)."""
    item = item or {}
    return Settings(
        dm_policy=str(item.get("dm_policy", DEFAULT_DM_POLICY)),
        push_previews=bool(item.get("push_previews", True)),
        show_activity_status=item.get("show_activity_status", True) is not False,
    )


class DynamoGraph:
    """Social graph backed by the single table."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def batch_get(self, item_keys: Sequence[keys.Key]) -> dict[tuple[str, str], dict[str, Any]]:
        """BatchGetItem (consistent reads) of up to 100 keys per call, retrying unprocessed keys."""
        return batch_get(self._client, self._table, item_keys)

    def pair_states(self, sender: str, recipients: Sequence[str]) -> dict[str, PairState]:
        """Pair state for each recipient: 5 keys per recipient, one BatchGetItem per 20 recipients."""
        return pair_states_from(self.batch_get(pair_state_keys(sender, recipients)), sender, recipients)

    # --- helpers ------------------------------------------------------------------------

    def _edge_item(
        self, k: keys.Key, owner: str, kind: str, entity: str, other: str, at_ms: int
    ) -> dict[str, Any]:
        """An edge item listed on GSI1 under ``owner``'s ``kind`` list, ordered by a time ULID."""
        return {
            **k,
            **keys.gsi1(keys.listing(owner, kind), new_ulid(at_ms)),
            "entity": entity,
            "user_id": owner,
            "other": other,
            "since": iso_from_ms(at_ms),
        }

    def _counters(self, user_id: str, other: str, **deltas: int) -> list[dict[str, Any]]:
        """At most one Update of ``user_id``'s counters (none when every delta is 0), on the
        counter shard of the pair — a celebrity's new followers spread over 16 items."""
        deltas = {name: d for name, d in deltas.items() if d}
        if not deltas:
            return []
        adds = ", ".join(f"{name} :{name}" for name in deltas)
        counts: dict[str, Any] = {"entity": "counters", "uid": user_id, **deltas}
        return [
            tx.update(
                self._table,
                keys.counter_shard(user_id, other),
                f"SET entity = :entity, user_id = :uid ADD {adds}",
                **counts,
            )
        ]

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        """TransactWriteItems, retried briefly on TransactionConflict/throttling.

        Concurrent follows of one user contend on its profile counter, which DynamoDB reports as
        TransactionConflict. Retrying is safe: the conditions make a repeated write a no-op.
        """
        tx.transact_retrying(self._client, actions, attempts=TRANSACT_ATTEMPTS, backoff_s=0.025)

    # --- graph writes (GraphStore) ----------------------------------------------------------

    def edges(self, a: str, b: str) -> Edges:
        """Both follows and both blocks of the pair: one consistent BatchGetItem of 4 keys."""
        wanted = [keys.following(a, b), keys.following(b, a), keys.block(a, b), keys.block(b, a)]
        found = self.batch_get(wanted)
        return Edges(*(item_key(k) in found for k in wanted))

    def write_follow(self, a: str, b: str, *, reverse: bool, at_ms: int) -> bool:
        """One TransactWriteItems: edge pair + counters (+ friend markers), guarded by conditions."""
        friends = 1 if reverse else 0
        actions = [
            tx.put(
                self._table,
                self._edge_item(keys.following(a, b), a, "FOLLOWING", "follow", b, at_ms),
                condition=_NOT_EXISTS,
            ),
            tx.put(
                self._table,
                self._edge_item(keys.follower(b, a), b, "FOLLOWERS", "follower", a, at_ms),
                condition=_NOT_EXISTS,
            ),
            tx.check(self._table, keys.block(a, b), _NOT_EXISTS),
            tx.check(self._table, keys.block(b, a), _NOT_EXISTS),
            # The friend state written below is only right if the reverse edge is as read.
            tx.check(self._table, keys.following(b, a), _EXISTS if reverse else _NOT_EXISTS),
            *self._counters(a, b, following_count=1, friends_count=friends),
            *self._counters(b, a, followers_count=1, friends_count=friends),
        ]
        if reverse:
            actions += [
                tx.put(self._table, self._edge_item(keys.friend(a, b), a, "FRIENDS", "friend", b, at_ms)),
                tx.put(self._table, self._edge_item(keys.friend(b, a), b, "FRIENDS", "friend", a, at_ms)),
            ]
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            if err.failed(0) or err.failed(1):
                return False
            if err.failed(2) or err.failed(3):
                raise BlockedError("You cannot follow this user.") from err
            raise StateChangedError() from err
        return True

    def write_unfollow(self, a: str, b: str, *, reverse: bool) -> bool:
        """One TransactWriteItems: remove the edge pair, counters (and friend markers)."""
        friends = -1 if reverse else 0
        actions = [
            tx.delete(self._table, keys.following(a, b), condition=_EXISTS),
            tx.delete(self._table, keys.follower(b, a)),
            tx.check(self._table, keys.following(b, a), _EXISTS if reverse else _NOT_EXISTS),
            *self._counters(a, b, following_count=-1, friends_count=friends),
            *self._counters(b, a, followers_count=-1, friends_count=friends),
        ]
        if reverse:
            actions += [tx.delete(self._table, keys.friend(a, b)), tx.delete(self._table, keys.friend(b, a))]
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            if err.failed(0):
                return False
            raise StateChangedError() from err
        return True

    def write_block(self, a: str, b: str, *, a_follows: bool, b_follows: bool, at_ms: int) -> bool:
        """One TransactWriteItems: the block, both follows removed, counters and friend markers."""
        both = a_follows and b_follows
        actions = [
            tx.put(
                self._table,
                self._edge_item(keys.block(a, b), a, "BLOCKS", "block", b, at_ms),
                condition=_NOT_EXISTS,
            ),
            tx.delete(self._table, keys.following(a, b), condition=_EXISTS)
            if a_follows
            else tx.check(self._table, keys.following(a, b), _NOT_EXISTS),
            tx.delete(self._table, keys.following(b, a), condition=_EXISTS)
            if b_follows
            else tx.check(self._table, keys.following(b, a), _NOT_EXISTS),
            *self._counters(
                a,
                b,
                following_count=-int(a_follows),
                followers_count=-int(b_follows),
                friends_count=-int(both),
            ),
            *self._counters(
                b,
                a,
                following_count=-int(b_follows),
                followers_count=-int(a_follows),
                friends_count=-int(both),
            ),
        ]
        # The mirror on b's side lets an account deletion of b find this block (issue 20).
        actions.append(tx.put(self._table, {**keys.blocked_by(b, a), "entity": "blocked_by", "other": a}))
        if a_follows:
            actions.append(tx.delete(self._table, keys.follower(b, a)))
        if b_follows:
            actions.append(tx.delete(self._table, keys.follower(a, b)))
        if both:
            actions += [tx.delete(self._table, keys.friend(a, b)), tx.delete(self._table, keys.friend(b, a))]
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            if err.failed(0):
                return False
            raise StateChangedError() from err
        return True

    def delete_block(self, a: str, b: str) -> None:
        """One TransactWriteItems deleting block ``a → b`` and its mirror on b's side (deleting
        a missing item is a no-op)."""
        self._transact(
            [tx.delete(self._table, keys.block(a, b)), tx.delete(self._table, keys.blocked_by(b, a))]
        )

    # --- profile ----------------------------------------------------------------------------

    def profile(self, user_id: str) -> Profile:
        """One consistent BatchGetItem: the profile and the 16 counter shards, summed; defaults
        when the user never wrote anything."""
        profile_key, shard_keys = keys.profile(user_id), keys.counter_shards(user_id)
        found = self.batch_get([profile_key, *shard_keys])
        # Only the shard keys count: the profile item is settings, never counters.
        shards = [found[item_key(k)] for k in shard_keys if item_key(k) in found]

        def total(name: str) -> int:
            return sum(int(shard.get(name, 0)) for shard in shards)

        settings = _settings(found.get(item_key(profile_key)))
        return Profile(
            user_id=user_id,
            dm_policy=settings.dm_policy,
            push_previews=settings.push_previews,
            show_activity_status=settings.show_activity_status,
            followers_count=total("followers_count"),
            following_count=total("following_count"),
            friends_count=total("friends_count"),
        )

    def update_settings(
        self,
        user_id: str,
        dm_policy: str | None,
        push_previews: bool | None,
        show_activity_status: bool | None = None,
    ) -> Settings:
        """UpdateItem (upsert) of the given settings, ReturnValues=ALL_NEW (the counters live on
        the shards, so only the settings are returned)."""
        sets = {
            "entity": "profile",
            "user_id": user_id,
            "dm_policy": dm_policy,
            "push_previews": push_previews,
            "show_activity_status": show_activity_status,
        }
        given: dict[str, Any] = {name: v for name, v in sets.items() if v is not None}
        out = tx.write(
            self._client,
            tx.update(
                self._table,
                keys.profile(user_id),
                "SET " + ", ".join(f"{name} = :{name}" for name in given),
                **given,
            ),
            ReturnValues="ALL_NEW",
        )
        return _settings(deserialize(out.get("Attributes")))

    # --- presence ("active now", chalicelib.social.presence) -----------------------------------

    def touch_activity(self, user_id: str, now_ms: int, min_gap_ms: int) -> bool:
        """Conditional UpdateItem of the profile's ``last_active_at`` (skipped when younger than
        ``min_gap_ms``; the profile is created with defaults when absent)."""
        return tx.write_if(
            self._client,
            tx.update(
                self._table,
                keys.profile(user_id),
                "SET last_active_at = :now, entity = :e, user_id = :u",
                condition="attribute_not_exists(last_active_at) OR last_active_at < :cutoff",
                now=now_ms,
                cutoff=now_ms - min_gap_ms,
                e="profile",
                u=user_id,
            ),
        )

    def socket_changed(self, user_id: str, now_ms: int, delta: int) -> None:
        """UpdateItem: one socket more (``$connect``) or fewer (``$disconnect``), never below 0."""
        if delta > 0:
            update, condition = (
                "SET ws_at = :now, last_active_at = :now, entity = :e, user_id = :u ADD ws_open :d",
                None,
            )
        else:
            update, condition = (
                "SET last_active_at = :now, entity = :e, user_id = :u ADD ws_open :d",
                "ws_open > :zero",
            )
        params: dict[str, Any] = {
            "TableName": self._table,
            "Key": serialize(keys.profile(user_id)),
            "UpdateExpression": update,
            "ExpressionAttributeValues": values(now=now_ms, d=delta, e="profile", u=user_id)
            | (values(zero=0) if condition else {}),
        }
        if condition:
            params["ConditionExpression"] = condition
        conditional(self._client.update_item, **params)

    def presence_context(
        self, viewer: str, others: Sequence[str], *, with_blocks: bool
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], set[str]]:
        """One BatchGetItem (per 100 keys): the viewer's and the others' profiles, plus blocks
        both ways when ``with_blocks`` (friends need none: a block ends the friendship)."""
        others = [o for o in dict.fromkeys(others) if o != viewer]
        wanted = [keys.profile(viewer)] + [keys.profile(o) for o in others]
        if with_blocks:
            for o in others:
                wanted += [keys.block(viewer, o), keys.block(o, viewer)]
        found = self.batch_get(wanted)
        profiles = {o: found[item_key(keys.profile(o))] for o in others if item_key(keys.profile(o)) in found}
        blocked = {
            o
            for o in others
            if item_key(keys.block(viewer, o)) in found or item_key(keys.block(o, viewer)) in found
        }
        return found.get(item_key(keys.profile(viewer)), {}), profiles, blocked

    # --- lists ------------------------------------------------------------------------------

    def _query_listing(
        self, user_id: str, kind: str, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return query_page(
            self._client,
            self._table,
            index=keys.GSI1,
            key_attribute=keys.GSI1PK,
            key_value=keys.listing(user_id, kind),
            limit=limit,
            start=start,
        )

    def list_edges(
        self, user_id: str, kind: ListKind, limit: int, position: dict[str, Any] | None
    ) -> ListPage:
        """One Query on GSI1 (newest first) reading ``limit + 1`` items to know if more exist."""
        items, last = self._query_listing(user_id, _LISTINGS[kind], limit + 1, position)
        page = items[:limit]
        next_position: dict[str, Any] | None = None
        if len(items) > limit:
            tail = page[-1]
            next_position = {name: tail[name] for name in (keys.PK, keys.SK, keys.GSI1PK, keys.GSI1SK)}
        elif last:
            # The 1 MB page limit cut the query short: continue from where DynamoDB stopped.
            next_position = last
        return ListPage(
            items=[Listed(user_id=str(i["other"]), since=str(i["since"])) for i in page],
            next_position=next_position,
        )

    # --- phone and contacts (PhoneStore) ----------------------------------------------------

    def clear_phone(self, user_id: str) -> None:
        """GetItem of the user's hash, then one TransactWriteItems deleting both items."""
        found = get_item(self._client, self._table, keys.phone_owner(user_id))
        old = (found or {}).get("phone_hash")
        if not old:
            return
        try:
            self._transact(
                [
                    tx.delete(self._table, keys.phone_owner(user_id), condition="phone_hash = :old", old=old),
                    tx.delete(self._table, keys.phone(old), condition=_PHONE_IS_MINE, uid=user_id),
                ]
            )
        except TransactionCancelled as err:
            raise StateChangedError() from err

    def home_region(self, user_id: str) -> str | None:
        """One GetItem of the user's phone item (its ``region``; the number itself is not kept)."""
        found = get_item(self._client, self._table, keys.phone_owner(user_id))
        return str(found["region"]) if found and found.get("region") else None

    def charge_contacts(self, user_id: str, day: int, count: int, limit: int, expires_at: int) -> bool:
        """One conditional UpdateItem (ADD) on the day's counter; False when it would pass ``limit``."""
        return tx.write_if(
            self._client,
            tx.update(
                self._table,
                keys.contacts_quota(user_id, day),
                "SET entity = :entity, #ttl = :ttl ADD used :n",
                condition="attribute_not_exists(used) OR used <= :max",
                names={"#ttl": keys.TTL},
                entity="contacts_quota",
                ttl=expires_at,
                n=count,
                max=limit - count,
            ),
        )

    def owners(self, hashes: Sequence[str]) -> dict[str, str]:
        """BatchGetItem of the phone hashes: one call per 100, run concurrently (500 numbers are
        5 calls but one round trip; BatchGetItem takes at most 100 keys)."""
        wanted = [keys.phone(h) for h in hashes]
        chunks = [wanted[i : i + BATCH_GET_MAX_KEYS] for i in range(0, len(wanted), BATCH_GET_MAX_KEYS)]
        found: dict[tuple[str, str], Item] = {}
        if len(chunks) > 1:
            with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
                for part in pool.map(self.batch_get, chunks):
                    found.update(part)
        elif chunks:
            found = self.batch_get(chunks[0])
        by_key = {item_key(keys.phone(h)): h for h in hashes}
        return {by_key[k]: str(item["user_id"]) for k, item in found.items() if k in by_key}

    def blocked_either_way(self, user_id: str, others: Sequence[str]) -> set[str]:
        """BatchGetItem of both blocks per user (one call per 50 users)."""
        found = self.batch_get([k for o in others for k in (keys.block(user_id, o), keys.block(o, user_id))])
        return {
            o
            for o in others
            if item_key(keys.block(user_id, o)) in found or item_key(keys.block(o, user_id)) in found
        }

    def remember_matches(self, user_id: str, others: Sequence[str], expires_at: int) -> None:
        """BatchWriteItem of the match markers (one call per 25), retrying unprocessed items a
        bounded number of times."""
        batch_put(
            self._client,
            self._table,
            [
                {
                    **keys.contact_match(user_id, o),
                    # Listed under the matched user, so their account deletion finds it (issue 20).
                    **keys.gsi1(keys.matched_by(o), user_id),
                    "entity": "contact_match",
                    "user_id": user_id,
                    "other": o,
                    keys.TTL: expires_at,
                }
                for o in dict.fromkeys(others)
            ],
        )

    # --- suggestions (SuggestionStore) ------------------------------------------------------

    def contact_matches(self, user_id: str, now_s: int, limit: int) -> list[str]:
        """One Query of the user's partition (``begins_with CONTACT#``), unexpired only."""
        out = call(
            self._client.query,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            FilterExpression="#ttl > :now",
            ExpressionAttributeNames={"#ttl": keys.TTL},
            ExpressionAttributeValues=values(pk=keys.user_pk(user_id), prefix=keys.CONTACT_PREFIX, now=now_s),
            Limit=limit,
        )
        return [str((deserialize(i) or {})["other"]) for i in out.get("Items", [])]

    def recent_friends(self, user_id: str, limit: int) -> list[str]:
        """One Query on GSI1 (the FRIENDS list, newest first)."""
        items, _ = self._query_listing(user_id, "FRIENDS", limit)
        return [str(i["other"]) for i in items]

    def friends_of(self, users: Sequence[str], per_user: int) -> dict[str, list[str]]:
        """One Query per user (≤ 200 users), run concurrently on the shared, thread-safe client."""
        unique = list(dict.fromkeys(users))
        if not unique:
            return {}
        with ThreadPoolExecutor(max_workers=min(FRIENDS_OF_WORKERS, len(unique))) as pool:
            lists = list(pool.map(lambda u: self.recent_friends(u, per_user), unique))
        return dict(zip(unique, lists, strict=True))

    def excluded(self, user_id: str, candidates: Sequence[str]) -> set[str]:
        """BatchGetItem of follow + both blocks per candidate (one call per 33 candidates)."""
        wanted = [
            k
            for c in candidates
            for k in (keys.following(user_id, c), keys.block(user_id, c), keys.block(c, user_id))
        ]
        found = self.batch_get(wanted)
        return {
            c
            for c in candidates
            if any(
                item_key(k) in found
                for k in (keys.following(user_id, c), keys.block(user_id, c), keys.block(c, user_id))
            )
        }


def graph() -> DynamoGraph:
    """The graph repository (cheap: the client underneath is cached per container)."""
    return DynamoGraph(clients.dynamodb(), get_settings().table_name)


# --- phone verification by SMS (logic_phone.VerificationStore, SmsSender) ----------------------


def _verification_from(item: Item) -> Verification:
    return Verification(
        verification_id=str(item["verification_id"]),
        user_id=str(item["user_id"]),
        phone_hash=str(item["phone_hash"]),
        code_hash=str(item["code_hash"]),
        expires_at_s=int(item["expires_at"]),
        attempts=int(item.get("attempts", 0)),
        region=item.get("region"),
    )


class DynamoVerifications(DynamoGraph):
    """Verifications, daily code quotas and number holders in the single table."""

    def _quota(self, kind: str, subject: str, day: int, limit: int, expires_s: int) -> tx.Action:
        return tx.update(
            self._table,
            keys.sms_code_quota(kind, subject, day),
            "ADD n :one SET entity = :entity, #ttl = :ttl",
            condition="attribute_not_exists(n) OR n < :limit",
            names={"#ttl": keys.TTL},
            one=1,
            entity="sms_code_quota",
            ttl=expires_s,
            limit=limit,
        )

    def start(
        self, verification: Verification, day: int, user_limit: int, number_limit: int, quota_expires_s: int
    ) -> bool:
        """One TransactWriteItems: the verification (TTL = its expiry) and both daily counters."""
        item = {
            **keys.phone_verification(verification.verification_id),
            "entity": "phone_verification",
            "verification_id": verification.verification_id,
            "user_id": verification.user_id,
            "phone_hash": verification.phone_hash,
            "code_hash": verification.code_hash,
            "attempts": 0,
            "region": verification.region,
            "expires_at": verification.expires_at_s,
            keys.TTL: verification.expires_at_s,
        }
        try:
            self._transact(
                [
                    tx.put(self._table, item, condition=_NOT_EXISTS),
                    self._quota("user", verification.user_id, day, user_limit, quota_expires_s),
                    self._quota("number", verification.phone_hash, day, number_limit, quota_expires_s),
                ]
            )
        except TransactionCancelled as err:
            if err.failed(1) or err.failed(2):
                return False
            raise UnavailableError("The code could not be sent; retry.") from err
        return True

    def get(self, verification_id: str) -> Verification | None:
        """One consistent GetItem (TTL deletion is lazy: the caller checks ``expires_at``)."""
        item = get_item(self._client, self._table, keys.phone_verification(verification_id))
        return _verification_from(item) if item else None

    def wrong_code(self, verification: Verification, limit: int) -> int:
        """One UpdateItem (ADD attempts, only below ``limit``); ``limit`` when it already ended."""
        try:
            out = tx.write(
                self._client,
                tx.update(
                    self._table,
                    keys.phone_verification(verification.verification_id),
                    "ADD attempts :one",
                    condition="attribute_exists(pk) AND attempts < :limit",
                    one=1,
                    limit=limit,
                ),
                ReturnValues="UPDATED_NEW",
            )
        except ConditionFailed:
            return limit
        return int((deserialize(out.get("Attributes")) or {}).get("attempts", limit))

    def claim(self, verification: Verification) -> None:
        """One BatchGetItem (the number's holder, the caller's current number) and one
        TransactWriteItems: consume the verification, point the number at the caller, release
        the caller's old number, take it from the previous holder. Every step is conditional on
        what was read, keeping ``phone_owner(u) = h`` ⇔ ``phone(h).user_id = u``."""
        user, new = verification.user_id, verification.phone_hash
        found = self.batch_get([keys.phone(new), keys.phone_owner(user)])
        holder = found.get(item_key(keys.phone(new)), {}).get("user_id")
        old = found.get(item_key(keys.phone_owner(user)), {}).get("phone_hash")
        actions = [
            tx.delete(
                self._table,
                keys.phone_verification(verification.verification_id),
                condition="attribute_exists(pk) AND attempts = :attempts",
                attempts=verification.attempts,
            ),
            tx.put(
                self._table,
                {**keys.phone(new), "entity": "phone_optin", "user_id": user},
                condition="user_id = :holder" if holder else _NOT_EXISTS,
                **({"holder": holder} if holder else {}),
            ),
            tx.put(
                self._table,
                {
                    **keys.phone_owner(user),
                    "entity": "phone_owner",
                    "phone_hash": new,
                    "region": verification.region,
                },
                condition="phone_hash = :old" if old else _NOT_EXISTS,
                **({"old": old} if old else {}),
            ),
        ]
        if old and old != new:
            actions.append(tx.delete(self._table, keys.phone(old), condition="user_id = :uid", uid=user))
        if holder and holder != user:
            # The previous holder loses the number silently (recycled numbers: verified wins).
            actions.append(
                tx.delete(self._table, keys.phone_owner(str(holder)), condition="phone_hash = :h", h=new)
            )
        try:
            self._transact(actions)
        except TransactionCancelled as err:
            raise VerificationChangedError() from err


class SnsSms:
    """SMS through SNS ``Publish(PhoneNumber=...)`` (locally: moto keeps the texts it was sent)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def send(self, e164: str, text: str) -> None:
        """One Publish, as a transactional SMS (higher delivery priority than promotional)."""
        from botocore.exceptions import ClientError

        try:
            self._client.publish(
                PhoneNumber=e164,
                Message=text,
                MessageAttributes={
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
                },
            )
        except ClientError as err:
            raise UnavailableError("The code could not be sent; retry.") from err


def verifications() -> DynamoVerifications:
    """The phone verification repository."""
    return DynamoVerifications(clients.dynamodb(), get_settings().table_name)


def sms() -> SnsSms:
    """The SMS sender."""
    return SnsSms(clients.sns())
