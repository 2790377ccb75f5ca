"""The one module that knows the table's keys.

Single-table design: generic ``pk``/``sk``, ``gsi1pk``/``gsi1sk`` and ``gsi2pk``/``gsi2sk``.
Every key and prefix is built here; ``docs/data-model.md`` lists the access patterns.
Each builder returns a dict ready to merge into an item (or to use as a ``Key``).
Sections are per domain; keep a domain's builders inside its section.
"""

from __future__ import annotations

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


def direct_pair(user_a: str, user_b: str) -> Key:
    """Canonical pointer from an unordered pair to its direct conversation."""
    low, high = sorted((user_a, user_b))
    return key(f"DIRECT#{low}#{high}", "DIRECT")


def attachment(attachment_id: str) -> Key:
    """An attachment's metadata (owner, type, size, object key)."""
    return key(f"ATT#{attachment_id}", "ATT")


def report(report_id: str) -> Key:
    """A trust-and-safety report."""
    return key(f"REPORT#{report_id}", "REPORT")


def rate_window(scope: str, subject: str, window: int) -> Key:
    """A fixed-window rate counter (expires through TTL)."""
    return key(f"RATE#{scope}#{subject}", f"W#{window}")


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


# --- notify -------------------------------------------------------------------------------


def device(user_id: str, device_id: str) -> Key:
    """A push device registered by a user."""
    return key(user_pk(user_id), f"DEVICE#{device_id}")


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


# --- realtime -----------------------------------------------------------------------------


def connection(user_id: str, connection_id: str) -> Key:
    """An open WebSocket connection of a user."""
    return key(user_pk(user_id), f"WS#{connection_id}")
