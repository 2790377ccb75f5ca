"""In-memory fakes of the share domain's repositories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from chalicelib.dm.rules import SenderSide
from chalicelib.share.logic import SharePlan, ShareRecord, ShareRecordExistsError, ShareSnapshot
from chalicelib.share.models import VideoEvent
from chalicelib.share.videos import Video
from chalicelib.social.access import PairState


class FakeGraph:
    """Pair states from a set of follows, blocks and DM policies."""

    def __init__(self) -> None:
        self.follows: set[tuple[str, str]] = set()
        self.blocks: set[tuple[str, str]] = set()
        self.policies: dict[str, str] = {}
        self.calls = 0

    def befriend(self, a: str, b: str) -> None:
        """Mutual follows."""
        self.follows |= {(a, b), (b, a)}

    def pair_states(self, sender: str, recipients: Sequence[str]) -> dict[str, PairState]:
        """One 'batched read'."""
        self.calls += 1
        return {
            r: PairState(
                sender_follows=(sender, r) in self.follows,
                recipient_follows=(r, sender) in self.follows,
                sender_blocked_recipient=(sender, r) in self.blocks,
                recipient_blocked_sender=(r, sender) in self.blocks,
                recipient_policy=self.policies.get(r, "friends"),
            )
            for r in recipients
        }

    def blocked_either_way(self, user_id: str, others: Sequence[str]) -> set[str]:
        """One 'batched read' of both blocks per other user."""
        self.calls += 1
        return {o for o in others if (user_id, o) in self.blocks or (o, user_id) in self.blocks}


class FakeVideos:
    """Video projection with the repository's newest-wins / tombstone semantics."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[int, Video]] = {}

    def get(self, video_id: str) -> Video | None:
        """Stored video."""
        found = self.items.get(video_id)
        return found[1] if found else None

    def get_many(self, video_ids: Sequence[str]) -> dict[str, Video]:
        """Stored videos."""
        return {v: self.items[v][1] for v in video_ids if v in self.items}

    def put(self, video: Video) -> None:
        """Seed a video."""
        self.items[video.video_id] = (0, video)

    def apply(self, event: VideoEvent, now_ms: int) -> bool:
        """Conditional write."""
        current = self.items.get(event.video_id)
        if current and (
            current[1].deleted or (event.type != "video.deleted" and current[0] >= event.occurred_ms)
        ):
            return False
        count = current[1].share_count if current else 0
        video = Video(
            video_id=event.video_id,
            author_id=event.author_id or "",
            title=event.title or "",
            visibility=event.visibility or "private",
            share_count=count,
            thumbnail_key=event.thumbnail_key,
            deleted=event.type == "video.deleted",
        )
        self.items[event.video_id] = (event.occurred_ms, video)
        return True


class FakeUrls:
    """Deterministic 'presigned' URLs."""

    def thumbnail_url(self, key: str) -> str:
        """URL of a key."""
        return f"https://media.test/{key}?signed"


class FakeShareStore:
    """Share store over a FakeGraph and FakeVideos, with atomic commits."""

    def __init__(self, graph: FakeGraph, videos: FakeVideos) -> None:
        self.graph = graph
        self.videos = videos
        self.records: dict[tuple[str, str, str], ShareRecord] = {}
        self.conversations: dict[frozenset[str], str] = {}
        self.messages: list[tuple[str, str]] = []  # (conversation_id, message_id)
        self.sides: dict[tuple[str, str], SenderSide] = {}  # (conversation, member) → request state
        self.race_with: ShareRecord | None = None  # simulate a concurrent winner

    def load(
        self,
        sharer: str,
        video_id: str,
        recipients: Sequence[str],
        idem_key: str,
        conversation_ids: Sequence[str] = (),
    ) -> ShareSnapshot:
        """Everything at once."""
        record = self.records.get((sharer, video_id, idem_key))
        video = self.videos.get(video_id)
        if record:
            return ShareSnapshot(video=video, record=record)
        if video is None or video.deleted:
            return ShareSnapshot(video=None)
        others = [r for r in recipients if r != sharer]
        viewers = [sharer, *others]
        author_states = self.graph.pair_states(video.author_id, viewers)
        conversations = {
            r: self.conversations[frozenset((sharer, r))]
            for r in others
            if frozenset((sharer, r)) in self.conversations
        }
        return ShareSnapshot(
            video=video,
            states=self.graph.pair_states(sharer, others),
            author_friends={v: author_states[v].friends for v in viewers},
            conversations=conversations,
            senders={
                r: self.sides[(c, sharer)] for r, c in conversations.items() if (c, sharer) in self.sides
            },
        )

    def accept(self, conversation_id: str, user_id: str, other: str) -> None:
        """The recipient accepts: both active, the sender's limit lifted."""
        self.sides[(conversation_id, user_id)] = SenderSide(conversation_id)
        side = self.sides[(conversation_id, other)]
        self.sides[(conversation_id, other)] = replace(side, send_limit=None)

    def commit(self, plan: SharePlan) -> None:
        """Atomic: record, count, conversations, messages."""
        k = (plan.sharer, plan.video.video_id, plan.idem_key)
        if self.race_with is not None:
            self.records[k] = self.race_with
            self.race_with = None
        if k in self.records:
            raise ShareRecordExistsError(self.records[k])
        self.records[k] = ShareRecord(plan.share_id, plan.fingerprint, plan.response)
        occurred, video = self.videos.items[plan.video.video_id]
        self.videos.items[video.video_id] = (
            occurred,
            replace(video, share_count=video.share_count + len(plan.deliveries)),
        )
        for d in plan.deliveries:
            cid = d.conversation_id
            self.conversations.setdefault(frozenset((plan.sharer, d.recipient_id)), cid)
            self.messages.append((cid, d.message_id))
            if d.new_conversation:
                request = d.status == "request"
                self.sides[(cid, plan.sharer)] = SenderSide(
                    cid, send_limit=1 if request else None, sent_count=1
                )
                self.sides[(cid, d.recipient_id)] = SenderSide(cid, status="request" if request else "active")
            else:
                side = self.sides[(cid, plan.sharer)]
                self.sides[(cid, plan.sharer)] = replace(side, sent_count=side.sent_count + 1)

    def resume(self, sharer: str, video_id: str, idem_key: str, record: ShareRecord) -> None:
        """Mark complete."""
        self.records[(sharer, video_id, idem_key)] = replace(record, pending=False)


def video(**kw: Any) -> Video:
    """A video with defaults."""
    base: dict[str, Any] = {"video_id": "v1", "author_id": "carol", "title": "Cats", "visibility": "public"}
    return Video(**{**base, **kw})
