"""The one module that knows the table's keys.

Single-table design: generic ``pk``/``sk``, ``gsi1pk``/``gsi1sk`` and ``gsi2pk``/``gsi2sk``.
Every key and prefix is built here; ``docs/data-model.md`` lists the access patterns.
Each builder returns a dict ready to merge into an item (or to use as a ``Key``).
Sections are per domain; keep a domain's builders inside its section.
"""

from __future__ import annotations

import hashlib
import zlib

PK, SK = "pk", "sk"
GSI1, GSI1PK, GSI1SK = "gsi1", "gsi1pk", "gsi1sk"
GSI2, GSI2PK, GSI2SK = "gsi2", "gsi2pk", "gsi2sk"
TTL = "ttl"

Key = dict[str, str]


def key(pk: str, sk: str) -> Key:
    """A primary key."""
    return {PK: pk, SK: sk}


def gsi1(pk: str, sk: str) -> Key:
    """GSI1 key attributes."""
    return {GSI1PK: pk, GSI1SK: sk}


def gsi2(pk: str, sk: str) -> Key:
    """GSI2 key attributes."""
    return {GSI2PK: pk, GSI2SK: sk}


def user_pk(user_id: str) -> str:
    """Partition of everything a user owns."""
    return f"USER#{user_id}"


# --- idempotency (shared: shares, orders) -------------------------------------------------


def idempotency(user_id: str, scope: str, idem_key: str) -> Key:
    """Record of an Idempotency-Key for (caller, operation scope)."""
    return key(f"IDEM#{user_id}#{scope}#{idem_key}", "IDEM")


# --- social -------------------------------------------------------------------------------


def profile(user_id: str) -> Key:
    """A user's settings and exact follow counters."""
    return key(user_pk(user_id), "PROFILE")


# Follow counters are spread over this many items per user, so that a celebrity's followers do
# not all update (and transaction-conflict on) one item; ``GET /v1/me`` sums them in one read.
COUNTER_SHARDS = 16


def counter_shard(user_id: str, other: str) -> Key:
    """One of ``user_id``'s counter items: the one that counts edges with ``other``."""
    digest = hashlib.sha256(other.encode()).digest()
    return key(user_pk(user_id), f"COUNTERS#{int.from_bytes(digest[:4], 'big') % COUNTER_SHARDS:02d}")


def counter_shards(user_id: str) -> list[Key]:
    """All of ``user_id``'s counter items."""
    return [key(user_pk(user_id), f"COUNTERS#{n:02d}") for n in range(COUNTER_SHARDS)]


def following(follower: str, followee: str) -> Key:
    """Edge ``follower → followee`` (on the follower's side)."""
    return key(user_pk(follower), f"FOLLOWING#{followee}")


def follower(followee: str, follower_id: str) -> Key:
    """Edge ``follower → followee`` mirrored on the followee's side."""
    return key(user_pk(followee), f"FOLLOWER#{follower_id}")


def friend(user_id: str, other: str) -> Key:
    """Mutual-follow marker on ``user_id``'s side."""
    return key(user_pk(user_id), f"FRIEND#{other}")


def block(blocker: str, blocked: str) -> Key:
    """Block ``blocker → blocked``."""
    return key(user_pk(blocker), f"BLOCK#{blocked}")


def listing(user_id: str, kind: str) -> str:
    """GSI1 partition of one of a user's time-ordered lists (FOLLOWING, FOLLOWERS, FRIENDS, BLOCKS...)."""
    return f"{user_pk(user_id)}#{kind}"


def phone(phone_hash: str) -> Key:
    """Opt-in to discovery by phone number (HMAC only, never the number)."""
    return key(f"PHONE#{phone_hash}", "PHONE")


def phone_owner(user_id: str) -> Key:
    """Which phone hash a user opted in with (so opting out or changing number finds it)."""
    return key(user_pk(user_id), "PHONE")


def phone_verification(verification_id: str) -> Key:
    """A pending SMS verification of a number (code and number as keyed hashes; TTL 10 min)."""
    return key(f"PHONEVERIFY#{verification_id}", "VERIFY")


def sms_code_quota(subject_kind: str, subject: str, day: int) -> Key:
    """Daily counter of codes texted per user (``user``) or per number hash (``number``)."""
    return key(f"RATE#sms_code#{subject_kind}#{subject}", f"D#{day}")


CONTACT_PREFIX = "CONTACT#"


def contact_match(user_id: str, other: str) -> Key:
    """A contact-upload match kept (with a TTL) to feed ``user_id``'s suggestions."""
    return key(user_pk(user_id), f"{CONTACT_PREFIX}{other}")


def matched_by(user_id: str) -> str:
    """GSI1 partition of the contact matches (on other users' partitions) that name ``user_id``."""
    return listing(user_id, "MATCHED_BY")


def contacts_quota(user_id: str, day: int) -> Key:
    """Per-user daily counter of phone numbers submitted for matching (expires through TTL)."""
    return key(f"RATE#contacts#{user_id}", f"D#{day}")


# --- dm -----------------------------------------------------------------------------------


def conversation_pk(conversation_id: str) -> str:
    """Partition of one conversation (meta, members, messages)."""
    return f"CONV#{conversation_id}"


def conversation(conversation_id: str) -> Key:
    """Conversation metadata."""
    return key(conversation_pk(conversation_id), "META")


def member(conversation_id: str, user_id: str) -> Key:
    """Membership, read marker and mute state of one member."""
    return key(conversation_pk(conversation_id), f"MEMBER#{user_id}")


def message(conversation_id: str, message_id: str) -> Key:
    """A message; ``message_id`` is a ULID so the sort key orders by time."""
    return key(conversation_pk(conversation_id), f"MSG#{message_id}")


def client_message(conversation_id: str, sender_id: str, client_message_id: str) -> Key:
    """Uniqueness guard for a sender's ``client_message_id`` in a conversation."""
    return key(conversation_pk(conversation_id), f"CMID#{sender_id}#{client_message_id}")


MEMBER_PREFIX = "MEMBER#"
MESSAGE_PREFIX = "MSG#"
META_SK = "META"
# Reaction and reply-pointer items sort after every ``MSG#`` key ("R" > "M"), so history
# ranges (``MSG#`` .. ``MSG#~``) never see them.
REACTION_PREFIX = "RXN#"
REPLY_PREFIX = "RPL#"


def reaction(conversation_id: str, message_id: str, emoji: str, user_id: str) -> Key:
    """One user's reaction with one emoji to one message (its existence is the reaction)."""
    return key(conversation_pk(conversation_id), f"{REACTION_PREFIX}{message_id}#{emoji}#{user_id}")


def reply_pointer(conversation_id: str, original_id: str, reply_id: str) -> Key:
    """``reply_id`` quotes ``original_id``: an unsend of the original finds its replies here."""
    return key(conversation_pk(conversation_id), f"{REPLY_PREFIX}{original_id}#{reply_id}")


def replies_prefix(conversation_id: str, original_id: str) -> Key:
    """Partition and sort-key prefix of the reply pointers of one message (``begins_with``)."""
    return key(conversation_pk(conversation_id), f"{REPLY_PREFIX}{original_id}#")


def message_sk(message_id: str) -> str:
    """Sort key of a message (``MSG#<ulid>``); ``MSG#`` + a prefix bounds history queries."""
    return f"{MESSAGE_PREFIX}{message_id}"


def inbox(user_id: str, folder: str) -> str:
    """GSI1 partition of a user's conversation list; ``folder`` is ``inbox`` or ``requests``."""
    return f"{user_pk(user_id)}#DM#{folder}"


def inbox_entry(user_id: str, folder: str, activity_id: str) -> Key:
    """GSI1 keys of a member item: newest activity (a ULID) sorts first when read backwards."""
    return gsi1(inbox(user_id, folder), activity_id)


def former_conversation(user_id: str, conversation_id: str) -> Key:
    """A group the user left or was removed from (their messages stay in it)."""
    return key(user_pk(user_id), f"LEFT#{conversation_id}")


def direct_pair(user_a: str, user_b: str) -> Key:
    """Canonical pointer from an unordered pair to its direct conversation."""
    low, high = sorted((user_a, user_b))
    return key(f"DIRECT#{low}#{high}", "DIRECT")


def report(report_id: str) -> Key:
    """A trust-and-safety report."""
    return key(f"REPORT#{report_id}", "REPORT")


def rate_window(scope: str, subject: str, window: int) -> Key:
    """A fixed-window rate counter (expires through TTL)."""
    return key(f"RATE#{scope}#{subject}", f"W#{window}")


def upload(owner_id: str, attachment_id: str) -> Key:
    """An attachment upload: pending (in a GSI2 due bucket) until a sent message attaches it."""
    return key(f"UPLOAD#{owner_id}#{attachment_id}", "UPLOAD")


def pending_uploads_bucket(hour: int) -> str:
    """GSI2 partition of uploads whose 24 hours are up in one epoch hour (the sweeper's list)."""
    return f"UPLOADS#{hour}"


def pending_upload(hour: int, owner_id: str, attachment_id: str) -> Key:
    """GSI2 keys of a pending upload record."""
    return gsi2(pending_uploads_bucket(hour), f"{owner_id}#{attachment_id}")


def upload_quota(user_id: str, day: int) -> Key:
    """Daily counter of attachment uploads (count and bytes) of a user (expires through TTL)."""
    return key(f"RATE#uploads#{user_id}", f"D#{day}")


# --- share --------------------------------------------------------------------------------


def video(video_id: str) -> Key:
    """Projection of a video from the video platform's events."""
    return key(f"VIDEO#{video_id}", "VIDEO")


def share(video_id: str, share_id: str) -> Key:
    """One share of a video to many recipients."""
    return key(f"VIDEO#{video_id}", f"SHARE#{share_id}")


def interaction(user_id: str, other: str) -> Key:
    """Last time ``user_id`` messaged or shared with ``other`` (feeds share suggestions)."""
    return key(user_pk(user_id), f"INTERACT#{other}")


def interactions_pk(user_id: str) -> str:
    """GSI1 partition of ``user_id``'s interactions, ordered by time (newest last)."""
    return listing(user_id, "INTERACTIONS")


def interaction_gsi(user_id: str, other: str, at_iso: str) -> Key:
    """GSI1 attributes of an interaction item (sort key: ISO time, then the other user)."""
    return gsi1(interactions_pk(user_id), f"{at_iso}#{other}")


def share_idempotency(user_id: str, video_id: str, idem_key: str) -> Key:
    """Idempotency record of one share (also the share record the outbox reads)."""
    return idempotency(user_id, f"share:{video_id}", idem_key)


def friend_prefix() -> str:
    """Sort-key prefix of a user's friend markers (``begins_with`` on the user's partition)."""
    return friend("", "")[SK]


# --- notify -------------------------------------------------------------------------------


def devices(user_id: str) -> Key:
    """All push devices of a user in one small item (≤ 10 entries), so the push path can
    read many recipients' devices with one BatchGetItem."""
    return key(user_pk(user_id), "DEVICES")


def push_token(platform: str, token_hash: str) -> Key:
    """Which user currently owns a device token (a token follows the phone, not the account)."""
    return key(f"PUSHTOKEN#{platform}#{token_hash}", "PUSHTOKEN")


def push_marker(event_id: str) -> Key:
    """Short-lived marker: the pushes of this event were sent (SNS may redeliver)."""
    return key(f"PUSHED#{event_id}", "PUSHED")


# --- live ---------------------------------------------------------------------------------


def stream_pk(stream_id: str) -> str:
    """Partition of a live stream's metadata, moderators, bans and pins."""
    return f"STREAM#{stream_id}"


def stream(stream_id: str) -> Key:
    """Live stream metadata and chat settings."""
    return key(stream_pk(stream_id), "META")


def chat_shard_pk(stream_id: str, shard: int) -> str:
    """One of a room's K chat write shards."""
    return f"STREAM#{stream_id}#SHARD#{shard}"


def chat_message(stream_id: str, shard: int, message_id: str) -> Key:
    """A live-chat message (user or system) in one shard; ``message_id`` is a ULID."""
    return key(chat_shard_pk(stream_id, shard), f"MSG#{message_id}")


CHAT_MESSAGE_PREFIX = "MSG#"


def chat_shard_state(stream_id: str, shard: int) -> Key:
    """Per-shard copy of the stream's status (``live``/``ended``) that posts condition on, so
    the META item does not take one read per message. Its own partition (not the shard's)."""
    return key(f"{chat_shard_pk(stream_id, shard)}#STATE", "STATE")


def chat_rate_window(stream_id: str, shard: int, epoch_second: int) -> Key:
    """Per-shard, per-second message counter enforcing the room cap ÷ K (expires via TTL)."""
    return key(f"{chat_shard_pk(stream_id, shard)}#RATE", f"S#{epoch_second}")


def stream_user_pk(stream_id: str, user_id: str) -> str:
    """Partition of one user's state in one stream (chatter, ban, client message ids): one
    partition per (stream, user), so 5,000 posts/s spread over as many partitions as chatters."""
    return f"STREAM#{stream_id}#USER#{user_id}"


def chatter(stream_id: str, user_id: str) -> Key:
    """A user's last post time in a stream (enforces slow mode)."""
    return key(stream_user_pk(stream_id, user_id), "CHATTER")


def stream_ban(stream_id: str, user_id: str) -> Key:
    """A user banned from a stream's chat (posts check it is absent)."""
    return key(stream_user_pk(stream_id, user_id), "BAN")


def chat_client_message(stream_id: str, user_id: str, client_message_id: str) -> Key:
    """Idempotency guard of a ``client_message_id``; holds the original message for replays."""
    return key(stream_user_pk(stream_id, user_id), f"CMID#{client_message_id}")


def chat_snapshot_marker(stream_id: str) -> Key:
    """When the room's chat snapshot was last written (coalescing) and whether one is pending."""
    return key(f"{stream_pk(stream_id)}#SNAPSHOT", "SNAPSHOT")


# --- checkout -----------------------------------------------------------------------------


def product(product_id: str) -> Key:
    """A seller's product and its unpinned stock."""
    return key(f"PRODUCT#{product_id}", "META")


def pin(stream_id: str, product_id: str) -> Key:
    """A product pinned on a stream (flash-sale stock carved out of the product)."""
    return key(stream_pk(stream_id), f"PIN#{product_id}")


def order(order_id: str) -> Key:
    """An order."""
    return key(f"ORDER#{order_id}", "META")


PIN_PREFIX = "PIN#"
SALE_PREFIX = "SALE#"
# Sort-key range of a stream partition holding META and every PIN# item (one Query reads both).
STREAM_META_SK = "META"
PIN_RANGE_END = "PIN#\uffff"


def pin_stock_shard(stream_id: str, product_id: str, shard: int) -> Key:
    """One of a pin's S stock shards (remaining / held / sold of its share of the units).

    Each shard is its own partition, so S shards take S x 1,000 WCU/s instead of one item's
    1,000; nothing else lives there.
    """
    return key(f"PINSTOCK#{stream_id}#{product_id}#{shard}", "STOCK")


def pin_buyer(stream_id: str, product_id: str, buyer_id: str) -> Key:
    """Units a buyer holds in live orders of a product pinned on a stream (``per_user_limit``).

    Its own partition, so a flash sale's counters do not share the hot stream partition.
    """
    return key(f"PINBUY#{stream_id}#{product_id}#{buyer_id}", "COUNT")


def buyer_orders(buyer_id: str, order_id: str) -> Key:
    """GSI1 entry listing a buyer's orders newest first."""
    return gsi1(f"{user_pk(buyer_id)}#ORDERS", order_id)


def buyer_orders_pk(buyer_id: str) -> str:
    """GSI1 partition of a buyer's orders."""
    return f"{user_pk(buyer_id)}#ORDERS"


# A seller's pointers to their orders are spread over this many partitions: every order of a
# flash sale writes one, and one partition takes 1,000 WCU/s, i.e. 500 transactional puts
# (2 WCU each) per second. 32 partitions take 32 x 500 = 16,000 orders/s per seller (target:
# 10,000). The listing reads all of them and merges by sort key (order ids are ULIDs).
SALE_SHARDS = 32


def sale_shard(order_id: str) -> int:
    """Which of the seller's pointer partitions an order's pointer lives in."""
    return zlib.crc32(order_id.encode()) % SALE_SHARDS


def sale_partition(seller_id: str, shard: int) -> str:
    """One of a seller's ``SALE_SHARDS`` pointer partitions (nothing else lives there)."""
    return f"{user_pk(seller_id)}#SALES#{shard:02d}"


def sale_partitions(seller_id: str) -> list[str]:
    """Every pointer partition of a seller (the listing queries each and merges)."""
    return [sale_partition(seller_id, n) for n in range(SALE_SHARDS)]


def sale_sk(order_id: str) -> str:
    """Sort key of a sale pointer (``SALE#<ulid>``: sorts by time within a partition)."""
    return f"{SALE_PREFIX}{order_id}"


def sale(seller_id: str, order_id: str) -> Key:
    """A seller's pointer to an order of theirs (listing ``role=seller``), in the pointer
    partition the order id hashes to (spreads a sale's writes: see ``SALE_SHARDS``)."""
    return key(sale_partition(seller_id, sale_shard(order_id)), sale_sk(order_id))


def legacy_sale(seller_id: str, order_id: str) -> Key:
    """A pointer written before they were sharded: ``USER#<seller>`` / ``SALE#<order_id>``.
    Such pointers are still read (listing, erasure, export) next to the shards, never written."""
    return key(user_pk(seller_id), sale_sk(order_id))


def legacy_sales(seller_id: str) -> Key:
    """Partition and sort-key prefix (``begins_with``) of a seller's legacy pointers."""
    return legacy_sale(seller_id, "")


# The pending index takes 2 writes per order (entry at creation, removal when paid/expired),
# 1 WCU each on a GSI partition of 1,000 WCU/s: 32 buckets take 32 x 500 = 16,000 orders/s
# (8 took 4,000). Entries written while there were 8 buckets sit in buckets 0..7 and stay
# found: the sweeper reads all 32 buckets.
PENDING_SHARDS = 32
REFUND_PENDING_PK = "REFUNDPENDING"


def pending_shard(order_id: str) -> int:
    """Which pending-index shard an order lives in (spreads a flash sale's index writes)."""
    return zlib.crc32(order_id.encode()) % PENDING_SHARDS


def pending_order(expires_at_ms: int, order_id: str) -> Key:
    """Sparse GSI2 entry of an order while it is ``pending_payment`` (the sweeper's work list):
    sorted by hold end, so "every hold that ended before now" is one range query per shard,
    however long the sweeper was down."""
    return gsi2(pending_bucket(pending_shard(order_id)), f"{expires_at_ms:013d}#{order_id}")


def pending_bucket(shard: int) -> str:
    """GSI2 partition of one shard of the pending orders."""
    return f"PENDING#{shard}"


def pending_until(now_ms: int) -> str:
    """Upper bound (inclusive) of the pending index's sort key for holds ended by ``now_ms``."""
    return f"{now_ms:013d}#~"


def refund_pending_order(order_id: str) -> Key:
    """Sparse GSI2 entry of an order while its automatic refund is ``refund_pending`` (retried
    by the sweeper until the provider accepts it)."""
    return gsi2(REFUND_PENDING_PK, order_id)


def payment_event(event_id: str) -> Key:
    """Marker that a payment webhook event was applied (dedupe, expires through TTL)."""
    return key(f"PAYEVT#{event_id}", "EVENT")


# --- realtime -----------------------------------------------------------------------------


CONNECTION_PREFIX = "WS#"


def connection(user_id: str, connection_id: str) -> Key:
    """An open WebSocket connection of a user."""
    return key(user_pk(user_id), f"{CONNECTION_PREFIX}{connection_id}")


def connections_of(user_id: str) -> Key:
    """Partition and sort-key prefix of a user's open connections (Query ``begins_with``)."""
    return key(user_pk(user_id), CONNECTION_PREFIX)


def connection_owner(connection_id: str) -> Key:
    """Reverse lookup connection id → user (``$default`` / ``$disconnect`` only know the id)."""
    return key(f"{CONNECTION_PREFIX}{connection_id}", "OWNER")


def connection_expiry(expires_at: int, connection_id: str) -> Key:
    """Sparse GSI2 entry of a connection (on its owner item) in the minute it expires: the
    sweeper's work list."""
    return gsi2(connection_expiry_bucket(expires_at // 60), connection_id)


def connection_expiry_bucket(minute: int) -> str:
    """GSI2 partition of the connections expiring in one epoch minute."""
    return f"WSEXP#{minute}"


def conversation_members(conversation_id: str) -> Key:
    """Partition and sort-key prefix of a conversation's member items (see :func:`member`)."""
    return member(conversation_id, "")


def typing_throttle(user_id: str, conversation_id: str) -> Key:
    """Short-lived marker: ``user_id`` last relayed typing in a conversation (rate limit)."""
    return key(f"TYPING#{user_id}#{conversation_id}", "TYPING")


# --- account ------------------------------------------------------------------------------


def account_pk(user_id: str) -> str:
    """Partition of a user's account lifecycle items (deletion marker, exports). Not ``USER#u``:
    the erasure empties that partition, and these items must outlive it."""
    return f"ACCOUNT#{user_id}"


def account_deletion(user_id: str) -> Key:
    """The deletion marker: present = the account is deleted (kept forever; ids are never reused)."""
    return key(account_pk(user_id), "DELETION")


EXPORT_PREFIX = "EXPORT#"


def account_export(user_id: str, export_id: str) -> Key:
    """One data export of a user (its status and archive key)."""
    return key(account_pk(user_id), f"{EXPORT_PREFIX}{export_id}")


def export_quota(user_id: str) -> Key:
    """When the user last asked for an export (at most one per 24 h)."""
    return key(account_pk(user_id), "EXPORT_QUOTA")


def blocked_by(blocked: str, blocker: str) -> Key:
    """Mirror of block ``blocker → blocked`` on the blocked user's side (so an account deletion
    finds the blocks that name it)."""
    return key(user_pk(blocked), f"BLOCKED_BY#{blocker}")


BLOCKED_BY_PREFIX = "BLOCKED_BY#"


def user_chat_messages(user_id: str) -> str:
    """GSI1 partition of a user's live-chat messages (erasure finds them across streams)."""
    return listing(user_id, "CHAT")


def hosted_streams(user_id: str) -> str:
    """GSI1 partition of the streams a user hosts."""
    return listing(user_id, "STREAMS")


def seller_product(seller_id: str, product_id: str) -> Key:
    """A seller's pointer to one of their products (an account deletion unlists them)."""
    return key(user_pk(seller_id), f"PRODUCT#{product_id}")
