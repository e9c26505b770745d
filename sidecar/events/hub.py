"""The event hub: store effects become the wire events of CONTRACT §6, kept for replay.

The hub listens to the store synchronously, so its record of events always matches what a pull
sees at the same moment: a client that reads ``event_seq`` with its content and then subscribes
with ``since=event_seq`` misses nothing and repeats nothing. Publishing never awaits a client: each
subscriber has a bounded queue, and one that falls behind is dropped (it gets ``resync``) instead
of slowing the store or anyone else.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, assert_never

import orjson

from ..store import (
    ApprovalEffect,
    Change,
    ConversationEffect,
    ExternalEffect,
    MessageEffect,
    Store,
    TextEffect,
    TurnEffect,
)

log = logging.getLogger(__name__)

__all__ = ["Event", "EventHub", "Subscription", "to_events"]

CONVERSATION_REASONS = frozenset({"created", "updated", "deleted", "restored"})

# Past this many consumed entries the retained log is compacted (amortised O(1) per event).
_COMPACT_AFTER = 1024
#: Frame bytes past which events beyond the last ``retention`` are dropped even while young.
RETENTION_BYTES = 8 * 1024 * 1024


class Event:
    """One wire event. ``seq`` is its SSE ``id``; ``conversation_id`` is ``None`` for events that
    concern every client (``resync``, ``server.shutdown``), which therefore pass every filter.

    Serialised once, when the event is made: the frame then cannot drift if a dict shared with
    the store is changed later, and N subscribers cost one serialisation, not N. Once retained,
    the frame is all the event keeps (:meth:`release_data`): ``data`` is then read back from it
    when asked for (an RPC client's notification), so replay does not pin the message and
    conversation dicts of thousands of past changes.
    """

    __slots__ = ("_data", "_frame", "conversation_id", "published_at", "seq", "type")

    def __init__(
        self,
        seq: int,
        type: str,
        conversation_id: str | None,
        data: dict[str, Any],
        published_at: float | None = None,
    ) -> None:
        self.seq = seq
        self.type = type
        self.conversation_id = conversation_id
        self.published_at = time.monotonic() if published_at is None else published_at
        self._data: dict[str, Any] | None = data
        # orjson never emits a newline, so ``data`` is a single SSE line.
        self._frame = b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, type.encode(), orjson.dumps(data))

    @property
    def data(self) -> dict[str, Any]:
        if self._data is not None:
            return self._data
        start = self._frame.index(_DATA_FIELD) + len(_DATA_FIELD)
        data: dict[str, Any] = orjson.loads(self._frame[start:-2])
        return data

    def release_data(self) -> None:
        """Keep only the frame (``data`` is parsed from it from now on)."""
        self._data = None

    def frame(self) -> bytes:
        return self._frame

    def __repr__(self) -> str:
        return (
            f"Event(seq={self.seq}, type={self.type!r}, conversation_id={self.conversation_id!r})"
        )


_DATA_FIELD = b"\ndata: "


def to_events(change: Change, published_at: float | None = None) -> list[Event]:
    """Map one committed change to its wire events (CONTRACT §6), one per effect, same seqs.

    Pure apart from the clock (pass ``published_at`` to pin it), so the mapping is testable alone.
    """
    now = time.monotonic() if published_at is None else published_at
    cid = change.conversation_id
    revision: int | None = None
    for effect in change.effects:
        if isinstance(effect, ConversationEffect) and effect.conversation is not None:
            revision = effect.conversation.get("revision")
    events: list[Event] = []
    for effect in change.effects:
        body: dict[str, Any]
        match effect:
            case ConversationEffect(reason=reason, conversation=conversation):
                if reason == "purged":
                    etype = "conversation.deleted"
                    body = {
                        "conversation_id": cid,
                        "revision": None,
                        "conversation": None,
                        "purged": True,
                    }
                else:
                    # A message append, a turn or a branch switch also changes the conversation
                    # (revision, preview, state): to a client that is an update.
                    etype = (
                        f"conversation.{reason if reason in CONVERSATION_REASONS else 'updated'}"
                    )
                    body = {
                        "conversation_id": cid,
                        "revision": None if conversation is None else conversation.get("revision"),
                        "conversation": conversation,
                    }
            case MessageEffect():
                etype = "message.created" if effect.created else "message.updated"
                body = {"conversation_id": cid, "revision": revision, "message": effect.message}
            case TextEffect():
                etype = "message.delta"
                body = {
                    "conversation_id": cid,
                    "message_id": effect.message_id,
                    "turn_id": effect.turn_id,
                    "offset": effect.offset,
                    "text": effect.text,
                }
            case TurnEffect():
                turn = effect.turn or {}
                etype = "turn.state"
                body = {
                    "conversation_id": cid,
                    "turn_id": turn.get("id"),
                    "state": turn.get("state"),
                    "previous": effect.previous,
                    "error": turn.get("error"),
                }
            case ApprovalEffect():
                etype = "tool.approval_requested"
                body = {
                    "conversation_id": cid,
                    "turn_id": effect.turn_id,
                    "tool_calls": effect.tool_calls,
                }
            case ExternalEffect():
                body = {"reason": "external", "conversation_ids": list(effect.conversation_ids)}
                events.append(Event(effect.seq, "store.changed", None, body, now))
                continue
            case _:
                assert_never(effect)
        events.append(Event(effect.seq, etype, cid, body, now))
    return events


def wanted(event: Event, conversation_id: str | None) -> bool:
    """Whether a stream filtered to ``conversation_id`` (``None``: all) gets ``event``.

    Store-wide events (``store.changed``) reach a filtered stream when they name its conversation.
    """
    if conversation_id is None or event.conversation_id == conversation_id:
        return True
    return event.type == "store.changed" and conversation_id in event.data["conversation_ids"]


def _notice(seq: int, etype: str, reason: str) -> Event:
    """``resync`` / ``server.shutdown`` carry the current seq so a browser's automatic reconnect
    (which sends it back as Last-Event-ID) resumes from now instead of looping on the old id."""
    return Event(seq, etype, None, {"reason": reason})


class Subscription:
    """One client's view of the event stream: its backlog, then live events, then maybe a final
    notice (``resync`` after overflow, ``server.shutdown``), then the end.

    The backlog is kept apart from the live queue so a long replay does not count against the
    bound that protects the server from a client that stops reading.
    """

    def __init__(
        self,
        hub: EventHub | None,
        conversation_id: str | None,
        backlog: list[Event],
        queue_size: int,
        final: Event | None = None,
    ) -> None:
        self.conversation_id = conversation_id
        self._hub = hub
        self._backlog: deque[Event] = deque(backlog)
        self._queue: deque[Event] = deque()
        self._queue_size = queue_size
        self._final = final
        self._live = hub is not None  # still fed by the hub
        self._finished = False  # everything delivered (or closed by the consumer)
        self._ready = asyncio.Event()
        self._end_callbacks: list[Callable[[], None]] = []
        self.overflowed = False
        if self._backlog or final is not None:
            self._ready.set()

    # ------------------------------------------------------------------ hub side

    def _offer(self, event: Event) -> bool:
        """Queue a live event; ``False`` when the queue is full (the hub then drops us)."""
        if not self._live:
            return True
        if not wanted(event, self.conversation_id):
            return True
        if len(self._queue) >= self._queue_size:
            return False
        self._queue.append(event)
        self._ready.set()
        return True

    def _overflow(self, seq: int) -> None:
        # What is queued is useless once the client must resync (it pulls anyway), so it is
        # freed at once; the client reconnects from ``seq``.
        self.overflowed = True
        self._backlog.clear()
        self._queue.clear()
        self._end(_notice(seq, "resync", "overflow"))

    def _end(self, final: Event) -> None:
        """Stop live delivery; what is queued is still delivered, then ``final``, then the end."""
        if not self._live:
            return
        self._live = False
        self._hub = None
        self._final = final
        self._ready.set()
        callbacks, self._end_callbacks = self._end_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("subscription end callback failed")

    # ------------------------------------------------------------------ consumer side

    @property
    def ended(self) -> bool:
        """No live event will be added any more (what is queued may still be delivered)."""
        return not self._live

    def add_end_callback(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the hub ends this subscription (overflow or stop).

        A consumer blocked writing to a stuck client uses it to give up on that client promptly.
        """
        if self._live:
            self._end_callbacks.append(callback)

    def close(self) -> None:
        """Detach from the hub and drop whatever is queued; safe to call more than once."""
        hub, self._hub = self._hub, None
        self._live = False
        self._finished = True
        self._backlog.clear()
        self._queue.clear()
        self._final = None
        self._end_callbacks.clear()
        self._ready.set()
        if hub is not None:
            hub._detach(self)

    def take(self, limit: int = 256) -> list[Event]:
        """The events ready now, at most ``limit``, without waiting (``[]`` when none are)."""
        batch: list[Event] = []
        while self._backlog and len(batch) < limit:
            batch.append(self._backlog.popleft())
        while self._queue and len(batch) < limit:
            batch.append(self._queue.popleft())
        if not self._backlog and not self._queue and not self._live:
            if self._final is not None and len(batch) < limit:
                batch.append(self._final)
                self._final = None
            if self._final is None:
                self._finished = True
        return batch

    async def next_batch(self, limit: int = 256) -> list[Event]:
        """Wait for events; return those ready (at least one, at most ``limit``).

        Raises :class:`StopAsyncIteration` once everything has been delivered. Cancelling it while
        it waits loses nothing, so a writer wraps it in :func:`asyncio.timeout` to know when to
        send a heartbeat. Batches let it send a burst of deltas in one socket write.
        """
        while True:
            batch = self.take(limit)
            if batch:
                return batch
            if self._finished:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        batch = await self.next_batch(limit=1)
        return batch[0]


class EventHub:
    """Turns store changes into events, retains recent ones for replay, fans them out.

    Retention (CONTRACT §6: "at least the last 10,000 events or 10 minutes"; docs/decisions.md,
    "Event retention in bytes"): the last ``retention`` events are always kept. Older ones are
    kept while younger than ``retention_seconds`` only as long as everything retained stays
    within ``retention_bytes`` of frames and ``10 * retention`` events, so a burst of large
    messages cannot exhaust memory. A client whose ``since`` lies before what is retained gets
    ``resync`` rather than a silent gap.
    """

    def __init__(
        self,
        store: Store,
        *,
        retention: int = 10_000,
        retention_seconds: float = 600.0,
        retention_bytes: int = RETENTION_BYTES,
        queue_size: int = 1024,
    ) -> None:
        self.store = store
        self.retention = max(0, retention)
        self.retention_seconds = retention_seconds
        self.max_retained = 10 * self.retention
        self.retention_bytes = retention_bytes
        self.retained_bytes = 0  # the retained events' frames
        self.queue_size = max(1, queue_size)
        self._log: list[Event] = []
        self._head = 0  # index of the oldest retained event in ``_log``
        # Every event with seq <= _floor may have existed and is not retained. Events from before
        # the hub started (e.g. before a restart) were never seen, so the floor starts there.
        self._floor = store.seq
        self._last_seq = store.seq
        self._subscribers: set[Subscription] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._stopped: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Listen to the store. Idempotent."""
        if self._unsubscribe is not None or self._stopped is not None:
            return
        if self._retained == 0:
            self._floor = self._last_seq = max(self._last_seq, self.store.seq)
        self._unsubscribe = self.store.subscribe(self._on_change)

    def stop(self, reason: str) -> None:
        """Send ``server.shutdown`` to every subscriber (after what it already has queued) and end
        every subscription; later subscribers get only ``server.shutdown``. Idempotent."""
        if self._stopped is not None:
            return
        self._stopped = reason
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        seq = self.last_seq
        subscribers, self._subscribers = self._subscribers, set()
        for subscription in subscribers:
            subscription._end(_notice(seq, "server.shutdown", reason))

    # ------------------------------------------------------------------ state

    @property
    def last_seq(self) -> int:
        """The current seq: the store's (which already names a batch's last record when the
        listeners hear of it), and never less than the last change the hub published."""
        return max(self.store.seq, self._last_seq)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def _retained(self) -> int:
        return len(self._log) - self._head

    # ------------------------------------------------------------------ subscribing

    def subscribe(
        self, conversation_id: str | None = None, since: int | None = None
    ) -> Subscription:
        """A new subscription; its backlog is fixed here, synchronously, so nothing committed
        between the caller's pull (which read ``event_seq``) and this call is lost or repeated.

        ``since=None``: live events only. ``since`` == current seq: nothing to replay. ``since``
        retained: every later event, in order. Older than retained: ``resync`` (too_old). Beyond
        the current seq (a client from before a data-dir reset): ``resync`` (unknown_seq).
        """
        current = self.last_seq
        if self._stopped is not None:
            shutdown = _notice(current, "server.shutdown", self._stopped)
            return Subscription(None, conversation_id, [], self.queue_size, final=shutdown)
        backlog: list[Event] = []
        if since is not None and since != current:
            if since > current:
                backlog = [_notice(current, "resync", "unknown_seq")]
            elif since < self._floor:
                backlog = [_notice(current, "resync", "too_old")]
            else:
                start = bisect.bisect_right(self._log, since, lo=self._head, key=_seq_of)
                backlog = [event for event in self._log[start:] if wanted(event, conversation_id)]
        subscription = Subscription(self, conversation_id, backlog, self.queue_size)
        self._subscribers.add(subscription)
        return subscription

    def _detach(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    # ------------------------------------------------------------------ publishing

    def _on_change(self, changes: Sequence[Change]) -> None:
        """The store listener (one call per journal batch, its changes in seq order): runs
        synchronously on the loop, so it must never wait."""
        events: list[Event] = []
        now = time.monotonic()
        for change in changes:
            events += to_events(change, now)
            if change.effects:
                self._last_seq = max(self._last_seq, change.last_seq)
        if not events:
            return
        self._retain(events)
        for subscription in list(self._subscribers):
            for event in events:
                if not subscription._offer(event):
                    log.warning(
                        "event subscriber fell %d events behind; dropping it (it will resync)",
                        self.queue_size,
                    )
                    self._subscribers.discard(subscription)
                    subscription._overflow(self._last_seq)
                    break

    def _retain(self, events: list[Event]) -> None:
        for event in events:
            event.release_data()
            self.retained_bytes += len(event.frame())
        self._log.extend(events)
        now = events[-1].published_at
        while self._retained > self.retention:
            oldest = self._log[self._head]
            young = now - oldest.published_at < self.retention_seconds
            within = self._retained <= self.max_retained and (
                self.retained_bytes <= self.retention_bytes
            )
            if young and within:
                break
            self._floor = oldest.seq
            self.retained_bytes -= len(oldest.frame())
            self._head += 1
        if self._head >= _COMPACT_AFTER and self._head * 2 >= len(self._log):
            del self._log[: self._head]
            self._head = 0


def _seq_of(event: Event) -> int:
    return event.seq
