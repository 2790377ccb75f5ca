"""Share a video to many recipients in one call: plain logic over a :class:`ShareStore`.

The store reads everything in two batched reads (video, idempotency record, direct-pair
pointers, the sharer's pair states, author friendships, the sharer's member items in existing
direct conversations) and writes in one or two TransactWriteItems; this module decides who gets
what. Per recipient a share is a DM from the sharer (``chalicelib.dm.rules.direct_outcome``): a
stranger gets one message in their requests until they accept, then ``not_allowed``. The share
also counts its messages in the sharer's DM rate window (5/s, bursts of 10): like a DM, it is
refused (429) while that window is full, and a large share fills it for what follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.clock import Clock, ms_from_iso
from chalicelib.core.errors import RateLimitedError, UnavailableError
from chalicelib.core.idempotency import ensure_same_request, fingerprint
from chalicelib.core.ids import new_ulid
from chalicelib.dm.logic import RATE_LIMIT, RATE_WINDOW_MS
from chalicelib.dm.rules import NOT_ALLOWED, SenderSide, direct_outcome
from chalicelib.dm.targets import Target
from chalicelib.share.models import ShareRequest
from chalicelib.share.ports import ShareStore
from chalicelib.share.videos import Video, VideoNotFoundError, can_see
from chalicelib.social.access import PairState

MAX_ATTEMPTS = 3


class ShareRateLimitedError(RateLimitedError):
    """The sharer's message window is full (shares and DMs share it)."""


@dataclass(frozen=True)
class ShareRecord:
    """The idempotency record of a share (holds the request fingerprint and the full response)."""

    share_id: str
    fingerprint: str
    response: dict[str, Any]
    pending: bool = False
    pending_actions: str | None = None


@dataclass(frozen=True)
class ShareSnapshot:
    """What one share needs to know, read in (at most) two batched reads."""

    video: Video | None
    record: ShareRecord | None = None
    states: dict[str, PairState] = field(default_factory=dict)  # (sharer, recipient) pair states
    author_friends: dict[str, bool] = field(default_factory=dict)  # viewer → friend of the author
    conversations: dict[str, str] = field(default_factory=dict)  # recipient → existing direct conv id
    # recipient → the sharer's member item in that existing conversation (request limit state)
    senders: dict[str, SenderSide] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)  # conversation targets, decided like a send


@dataclass(frozen=True)
class Delivery:
    """One recipient that gets the video (``sent`` or ``request``)."""

    recipient_id: str
    status: str
    conversation_id: str
    message_id: str
    new_conversation: bool


@dataclass(frozen=True)
class ConversationDelivery:
    """One conversation target that gets the video (``sent`` or ``request``)."""

    conversation_id: str
    status: str
    message_id: str


@dataclass(frozen=True)
class SharePlan:
    """Everything the store writes for one share."""

    share_id: str
    sharer: str
    video: Video
    note: str | None
    idem_key: str
    fingerprint: str
    sent_at: str
    deliveries: list[Delivery]
    response: dict[str, Any]
    window: int = 0  # the sharer's DM rate window; every delivery counts one message in it
    window_expires_s: int = 0
    rate_limit: int = RATE_LIMIT
    retry_after_s: int = 1
    conversation_deliveries: list[ConversationDelivery] = field(default_factory=list)


class ShareRecordExistsError(Exception):
    """The idempotency record was written by another request first (carries it when known)."""

    def __init__(self, record: ShareRecord | None) -> None:
        super().__init__("share record exists")
        self.record = record


class StaleReadError(Exception):
    """Something the plan relied on changed before the write (e.g. a conversation was created)."""


def request_fingerprint(video_id: str, request: ShareRequest) -> str:
    """The fingerprint of a share request (same key + same body → same fingerprint)."""
    if request.conversation_ids:  # only then: earlier shares' fingerprints stay valid
        return fingerprint("share", video_id, request.recipient_ids, request.note, request.conversation_ids)
    return fingerprint("share", video_id, request.recipient_ids, request.note)


def _replay(
    store: ShareStore, record: ShareRecord, fp: str, sharer: str, video_id: str, idem_key: str
) -> dict[str, Any]:
    ensure_same_request(record.fingerprint, fp)
    if record.pending:
        store.resume(sharer, video_id, idem_key, record)
    return record.response


def plan_share(
    snapshot: ShareSnapshot,
    *,
    sharer: str,
    request: ShareRequest,
    idem_key: str,
    fp: str,
    sent_at: str,
    new_id: Callable[[], str] = new_ulid,
) -> SharePlan:
    """Decide each recipient's outcome and the response (no I/O)."""
    video = snapshot.video
    if video is None or not can_see(video, sharer, snapshot.author_friends.get(sharer, False)):
        raise VideoNotFoundError("Video not found.")
    share_id = new_id()
    results: list[dict[str, Any]] = []
    deliveries: list[Delivery] = []
    for rid in request.recipient_ids:
        existing = snapshot.conversations.get(rid)
        # Exactly what a DM from the sharer would meet (blocks, policy, request limit) ...
        pair = snapshot.states.get(rid, PairState())
        status = direct_outcome(sharer, rid, pair, existing is not None, snapshot.senders.get(rid))
        # ... and the recipient must be allowed to see the video. Never say which rule refused.
        if status == NOT_ALLOWED or not can_see(video, rid, snapshot.author_friends.get(rid, False)):
            results.append({"recipient_id": rid, "status": NOT_ALLOWED})
            continue
        delivery = Delivery(
            recipient_id=rid,
            status=status,
            conversation_id=existing or new_id(),
            message_id=new_id(),
            new_conversation=existing is None,
        )
        deliveries.append(delivery)
        results.append(
            {
                "recipient_id": rid,
                "status": delivery.status,
                "conversation_id": delivery.conversation_id,
                "message_id": delivery.message_id,
            }
        )
    conversation_deliveries: list[ConversationDelivery] = []
    for target in snapshot.targets:
        if target.status == NOT_ALLOWED:
            results.append({"conversation_id": target.conversation_id, "status": NOT_ALLOWED})
            continue
        sent = ConversationDelivery(target.conversation_id, target.status, new_id())
        conversation_deliveries.append(sent)
        results.append(
            {"conversation_id": sent.conversation_id, "status": sent.status, "message_id": sent.message_id}
        )
    response = {
        "share_id": share_id,
        "video_id": video.video_id,
        "share_count": video.share_count + len(deliveries) + len(conversation_deliveries),
        "results": results,
    }
    now = ms_from_iso(sent_at)
    window = now // RATE_WINDOW_MS
    window_end_ms = (window + 1) * RATE_WINDOW_MS
    return SharePlan(
        window=window,
        window_expires_s=window_end_ms // 1000 + 60,
        retry_after_s=max(1, -(-(window_end_ms - now) // 1000)),
        share_id=share_id,
        sharer=sharer,
        video=video,
        note=request.note,
        idem_key=idem_key,
        fingerprint=fp,
        sent_at=sent_at,
        deliveries=deliveries,
        response=response,
        conversation_deliveries=conversation_deliveries,
    )


def share_video(
    store: ShareStore,
    *,
    sharer: str,
    video_id: str,
    request: ShareRequest,
    idem_key: str,
    clock: Clock,
    new_id: Callable[[], str] = new_ulid,
) -> dict[str, Any]:
    """``POST /v1/videos/{id}/shares``: send the video to every reachable recipient, once.

    Same key + same body → the original response (nothing written twice); same key + other body
    → 422. A concurrent duplicate loses the record's conditional write and replays the winner's.
    """
    fp = request_fingerprint(video_id, request)
    recipients = list(request.recipient_ids)
    for _attempt in range(MAX_ATTEMPTS):
        try:
            snapshot = store.load(sharer, video_id, recipients, idem_key, request.conversation_ids)
            if snapshot.record is not None:
                return _replay(store, snapshot.record, fp, sharer, video_id, idem_key)
            plan = plan_share(
                snapshot,
                sharer=sharer,
                request=request,
                idem_key=idem_key,
                fp=fp,
                sent_at=clock.now_iso(),
                new_id=new_id,
            )
            store.commit(plan)
            return plan.response
        except ShareRecordExistsError as exists:
            if exists.record is not None:
                return _replay(store, exists.record, fp, sharer, video_id, idem_key)
        except (StaleReadError, UnavailableError):
            continue  # re-read: a concurrent writer changed what the plan relied on
    raise UnavailableError("The share conflicted with concurrent changes; retry.")
