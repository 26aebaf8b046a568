"""Reliable delivery of ACK-required inner messages from one node (sans-IO).

Rules (docs/protocol.md "Reliability"; RFC 6298 through `rtt.py`):
- `send` gives a message whose type needs an ACK (`ACK_REQUIRED`) the node's next `seq`
  (`numbering.py`: one counter for every destination, never reused across restarts).
  Other messages pass straight through with seq 0: there is nothing to wait for.
- At most `max_in_flight` messages per destination await their ACK, and none while a
  more urgent one to the same destination is unacknowledged (so they arrive in priority
  order even when some must be retransmitted); the rest wait in a backlog released
  highest priority first, oldest first within a priority. CRITICAL never waits: an
  abort's 5 s TTL leaves no room for a queue.
- The backlog holds `max_backlog` messages per destination. When full, the oldest of the
  least important messages that are no more important than the newcomer is dropped, or
  else the newcomer: `Dropped`.
- TTL runs from `send`, or for less when the caller says what the message has left
  (`ttl`: an outbox row already held for a while). At now >= send time + that life the
  message is `Expired`, in flight or in the backlog, and never transmitted again.
- Each copy handed out says when the message was born (`held`: how long the caller had
  it before `send`), so the age it carries includes the caller's outbox time.
- Retransmission after the destination's RTO, doubled per retransmission (RFC 6298
  section 5.5), but never waiting more than a fifth of the message's TTL, so a HIGH
  message gets its tries within its 30 s; with `jitter`, each wait is spread by +-20 %.
  One timeout after the `max_retries`-th retransmission: `GaveUp`.
- `path_restored(dst)`: a route to `dst` came back after an outage; the in-flight
  slots go to the most urgent messages waiting for it, which go at once.
- The first ACK completes delivery: `Acknowledged` with the round trip. No RTT sample
  from a retransmitted message (Karn's rule) nor from a LOW one (it queues behind all
  other traffic, so its round trip measures our queue, not the path).
- A later ACK of a recently acknowledged seq with another outcome (ACCEPTED, then
  COMPLETED) is reported again with rtt None; a repeat is only counted. Any other ACK (a
  seq this run does not know: sent before a restart, or long forgotten) is counted as
  unknown and reported with rtt None too, once per outcome: the application may keep
  what it sent on disk (the ground station keeps its commands awaiting an outcome).
- Messages to transmit leave through `messages_to_send()`, events through `next_event()`.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .events import Acknowledged, Dropped, Event, Expired, GaveUp, Outgoing
from .numbering import SeqNumbering
from .priority import ACK_REQUIRED, TTL, Priority
from .rtt import RttEstimator

RECENT_ACKS = 256


@dataclass(slots=True)
class _Entry:
    dst: int
    seq: int
    messages: tuple[Any, ...]
    priority: Priority
    deadline: float
    born: float
    sent_at: float = 0.0
    retry_at: float = 0.0
    retransmissions: int = 0


@dataclass(slots=True)
class _Destination:
    rtt: RttEstimator
    in_flight: dict[int, _Entry] = field(default_factory=dict)
    backlog: tuple[deque[_Entry], ...] = field(
        default_factory=lambda: tuple(deque() for _ in Priority)
    )

    def backlog_size(self) -> int:
        return sum(len(queue) for queue in self.backlog)


class ReliableSender:
    """Sequence numbers, retransmissions and ACK bookkeeping of one node."""

    def __init__(
        self,
        *,
        max_in_flight: int = 4,
        max_backlog: int = 64,
        max_retries: int = 5,
        jitter: random.Random | None = None,
        numbering: SeqNumbering | None = None,
    ) -> None:
        self.numbering = numbering or SeqNumbering()
        self.max_in_flight = max_in_flight
        self._jitter = jitter
        """Spreads retransmission times by +-20 %: on a shared radio, two senders retrying
        in lockstep keep colliding at a relay that hears both (hidden terminals)."""
        self.max_backlog = max_backlog
        self.max_retries = max_retries
        self.counters: Counter[str] = Counter()
        self._peers: dict[int, _Destination] = {}
        self._outgoing: list[Outgoing] = []
        self._events: deque[Event] = deque()
        self._recent: dict[tuple[int, int], int] = {}

    def send(
        self,
        dst: int,
        message: Any,
        priority: Priority,
        now: float,
        *,
        attached: Sequence[Any] = (),
        first_seq: int = 1,
        held: float = 0.0,
        ttl: float | None = None,
    ) -> int:
        """Queue `message` (then `attached`, in the same bundle) for `dst`; returns its seq.

        The seq is written into `message` if its type needs an ACK, else 0 is returned.
        `attached` carries what the dialect seals after the head message: the
        EVENT_MISSION_ITEMS of an assignment, the EVENT_BULK_DATA of a bulk header.
        `first_seq` is where numbering starts if nothing was restored (`SeqNumbering.take`).
        `held` is how long the caller kept the message before (its age now); `ttl`, if
        shorter than the priority's TTL, is how long it may still live.
        """
        priority = Priority(priority)
        life = TTL[priority] if ttl is None else max(0.0, min(TTL[priority], ttl))
        entry = _Entry(dst, 0, (message, *attached), priority, now + life, born=now - held)
        if message.get_msgId() not in ACK_REQUIRED:
            self._emit(entry)
            self.counters["sent_unacknowledged"] += 1
            return 0
        peer = self._destination(dst)
        entry.seq = message.seq = self.numbering.take(first_seq)
        if self._may_fly(peer, entry):
            self._transmit(peer, entry, now)
        else:
            self._enqueue(peer, entry)
        return entry.seq

    def messages_to_send(self) -> list[Outgoing]:
        """What to seal and transmit now, oldest first."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def next_event(self) -> Event | None:
        """The oldest event not yet taken, or None."""
        return self._events.popleft() if self._events else None

    def in_flight(self, dst: int) -> int:
        """Messages to `dst` awaiting their ACK."""
        peer = self._peers.get(dst)
        return 0 if peer is None else len(peer.in_flight)

    def backlog(self, dst: int) -> int:
        """Messages to `dst` waiting for room in flight."""
        peer = self._peers.get(dst)
        return 0 if peer is None else peer.backlog_size()

    def rtt(self, dst: int) -> RttEstimator:
        """The round-trip estimator towards `dst`."""
        return self._destination(dst).rtt

    def on_ack(self, src: int, seq: int, outcome: int, now: float, reason: str = "") -> None:
        """Take the EVENT_ACK fields `seq`, `outcome` and `reason` that `src` sent us."""
        peer = self._peers.get(src)
        entry = None if peer is None else peer.in_flight.pop(seq, None)
        if peer is None or entry is None:
            self._on_other_ack(src, seq, outcome, reason)
            return
        rtt = None
        if entry.retransmissions == 0 and entry.priority is not Priority.LOW:
            rtt = now - entry.sent_at
            peer.rtt.sample(rtt)
            self.counters["rtt_samples"] += 1
        self._remember(src, seq, outcome)
        self._events.append(Acknowledged(dst=src, seq=seq, outcome=outcome, rtt=rtt, reason=reason))
        self.counters["acknowledged"] += 1
        self._release(peer, now)

    def destinations(self) -> list[int]:
        """Destinations with messages in flight."""
        return [dst for dst, peer in self._peers.items() if peer.in_flight]

    def path_restored(self, dst: int, now: float) -> None:
        """A way to `dst` appeared again after an outage. What piled up goes in priority
        order: the in-flight slots go to the most urgent messages (older LOW ones wait in
        the backlog again), and those go at once instead of after a backed-off timer."""
        peer = self._peers.get(dst)
        if peer is None:
            return
        waiting = [*peer.in_flight.values(), *(e for queue in peer.backlog for e in queue)]
        waiting.sort(key=lambda e: (e.priority, e.deadline))
        peer.in_flight.clear()
        for queue in peer.backlog:
            queue.clear()
        for entry in waiting:
            if self._may_fly(peer, entry):
                peer.in_flight[entry.seq] = entry
                entry.retry_at = now
                self.counters["sent_on_path_restored"] += 1
            else:
                peer.backlog[entry.priority].append(entry)

    def next_deadline(self) -> float | None:
        """When `on_timer` next has work, or None."""
        times = [
            min(e.retry_at, e.deadline) for p in self._peers.values() for e in p.in_flight.values()
        ]
        times += [q[0].deadline for p in self._peers.values() for q in p.backlog if q]
        return min(times, default=None)

    def on_timer(self, now: float) -> None:
        """Expire, retransmit or give up on whatever is due at `now`."""
        for peer in self._peers.values():
            for entry in list(peer.in_flight.values()):
                if now >= entry.deadline:
                    del peer.in_flight[entry.seq]
                    self._expire(entry, entry.retransmissions + 1)
                elif now >= entry.retry_at:
                    self._retry(peer, entry, now)
            for queue in peer.backlog:
                while queue and now >= queue[0].deadline:
                    self._expire(queue.popleft(), 0)
            self._release(peer, now)

    def _destination(self, dst: int) -> _Destination:
        peer = self._peers.get(dst)
        if peer is None:
            peer = self._peers[dst] = _Destination(RttEstimator())
        return peer

    def _transmit(self, peer: _Destination, entry: _Entry, now: float) -> None:
        entry.sent_at, entry.retry_at = now, now + peer.rtt.timeout(0)
        peer.in_flight[entry.seq] = entry
        self._emit(entry)
        self.counters["sent"] += 1

    def _emit(self, entry: _Entry) -> None:
        self._outgoing.append(
            Outgoing(
                dst=entry.dst,
                messages=entry.messages,
                priority=entry.priority,
                seq=entry.seq,
                deadline=entry.deadline,
                attempt=entry.retransmissions,
                born=entry.born,
            )
        )

    def _retry(self, peer: _Destination, entry: _Entry, now: float) -> None:
        if entry.retransmissions >= self.max_retries:
            del peer.in_flight[entry.seq]
            self._events.append(
                GaveUp(dst=entry.dst, seq=entry.seq, transmissions=entry.retransmissions + 1)
            )
            self.counters["gave_up"] += 1
            return
        entry.retransmissions += 1
        # Backoff protects a congested channel, but a message must also get its tries
        # within its time to live: no wait is longer than a fifth of it.
        timeout = min(peer.rtt.timeout(entry.retransmissions), TTL[entry.priority] / 5)
        if self._jitter is not None:
            timeout *= self._jitter.uniform(0.8, 1.2)
        entry.retry_at = now + timeout
        self._emit(entry)
        self.counters["retransmitted"] += 1

    def _expire(self, entry: _Entry, transmissions: int) -> None:
        self._events.append(Expired(dst=entry.dst, seq=entry.seq, transmissions=transmissions))
        self.counters["expired"] += 1

    def _enqueue(self, peer: _Destination, entry: _Entry) -> None:
        if peer.backlog_size() >= self.max_backlog:
            victims = [q for q in peer.backlog[entry.priority :] if q]
            dropped = victims[-1].popleft() if victims else entry
            self._events.append(Dropped(dst=dropped.dst, seq=dropped.seq))
            self.counters["backlog_dropped"] += 1
            if dropped is entry:
                return
        peer.backlog[entry.priority].append(entry)
        self.counters["backlogged"] += 1

    def _may_fly(self, peer: _Destination, entry: _Entry) -> bool:
        """CRITICAL always; others while a slot is free and nothing more urgent is still
        unacknowledged, so messages reach a destination in priority order."""
        if entry.priority is Priority.CRITICAL:
            return True
        more_urgent = any(e.priority < entry.priority for e in peer.in_flight.values())
        return len(peer.in_flight) < self.max_in_flight and not more_urgent

    def _release(self, peer: _Destination, now: float) -> None:
        for queue in peer.backlog:
            while queue:
                if now >= queue[0].deadline:
                    self._expire(queue.popleft(), 0)
                elif self._may_fly(peer, queue[0]):
                    self._transmit(peer, queue.popleft(), now)
                else:
                    return

    def _on_other_ack(self, src: int, seq: int, outcome: int, reason: str) -> None:
        previous = self._recent.get((src, seq))
        if previous == outcome:
            self.counters["ack_duplicate"] += 1
            return
        self.counters["ack_unknown" if previous is None else "ack_updated"] += 1
        self._remember(src, seq, outcome)
        self._events.append(
            Acknowledged(dst=src, seq=seq, outcome=outcome, rtt=None, reason=reason)
        )

    def _remember(self, src: int, seq: int, outcome: int) -> None:
        self._recent.pop((src, seq), None)
        self._recent[src, seq] = outcome
        if len(self._recent) > RECENT_ACKS:
            del self._recent[next(iter(self._recent))]
