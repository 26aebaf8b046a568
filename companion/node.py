"""One node's whole stack, sans-IO: the cores wired in the order a message travels.

    send:    application -> ReliableSender (seq, retries, TTL) -> SessionManager (seal,
             fragment) -> Forwarder (next hop, store) -> Link (frame, sign)
             -> TransmitScheduler (priority) -> radio
    receive: radio -> Link (verify) -> Router (mesh control) | Forwarder (pass on, or
             ours) -> SessionManager (open) -> Authorizer -> DuplicateFilter -> application,
             with an EVENT_ACK back for what needs one

Rules:
- Time comes in as `now` (monotonic, timers) and `wall` (Unix, for what goes on the
  wire and certificate validity); nothing here sleeps or does I/O. `StackRuntime`
  (`runtime.py`) drives it under trio.
- Every ACK-required message is acknowledged each time it arrives (the ACK may have
  been lost), but handed to the application once: the duplicate filter decides. Except
  the types in `ack_after_commit` (the ground station's detections): durable before
  acknowledged, so every copy goes to the application (`Arrived.ack` set, `repeat` true
  after the first), which commits it idempotently and then calls `acknowledge`. A
  crash before that commit leaves the sender retrying; nothing is ACKed and lost.
- Mesh control frames go out at HIGH priority: above telemetry and bulk, so routes
  survive a busy channel, and below CRITICAL, so they never delay an abort.
- Age, not clocks (docs/protocol.md, "Time"): every copy of a message that has an `age`
  field is sealed with its age then (`send`'s `held`, the caller's outbox time, plus the
  time since). A command older than its priority's time to live when it arrives is
  dropped and answered EXPIRED: an abort that comes a minute late must not act. A
  detection is never refused for its age: a late one is data the cloud still wants, and
  the application tells late from live by the age (`Arrived.age`). The `time` fields are
  wall-clock stamps for the record; node clocks disagree, so no decision reads them.
- Unsealed inner messages never reach the application: a sealed envelope is the only
  way in (the link admits signed frames only, and the session layer opens them).
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dialects import event

from .link import Link, LinkConfig, Received, SigningClock
from .link.signing import EPOCH_2015, TICKS_PER_SECOND
from .mesh.forwarder import Forwarder
from .mesh.router import Router
from .message_age import LATE_AFTER, age_of
from .reliability.dedupe import DuplicateFilter
from .reliability.events import Event
from .reliability.numbering import SeqNumbering
from .reliability.priority import ACK_REQUIRED, TTL, Priority, default_priority
from .reliability.scheduler import Frame, TransmitScheduler
from .reliability.sender import ReliableSender
from .security.authority import NodeKeys
from .security.authorization import MESSAGE_TYPE, Authorizer
from .security.revocation import RevocationState
from .security.session import SessionManager

CONTROL_PRIORITY = Priority.HIGH
MAX_RETRIES = 60
MESH_CONTROL = frozenset(
    {
        event.MAVLINK_MSG_ID_EVENT_HELLO,
        event.MAVLINK_MSG_ID_EVENT_ROUTE_REQUEST,
        event.MAVLINK_MSG_ID_EVENT_ROUTE_REPLY,
        event.MAVLINK_MSG_ID_EVENT_ROUTE_ERROR,
    }
)
SEALED = frozenset(
    {
        event.MAVLINK_MSG_ID_EVENT_ENVELOPE,
        event.MAVLINK_MSG_ID_EVENT_FRAGMENT,
        event.MAVLINK_MSG_ID_EVENT_HANDSHAKE,
    }
)


def stamp(message: Any, now: float) -> None:
    """Fill in a message's creation `time` if it has one and the application left it 0."""
    if getattr(message, "time", None) == 0:
        millis = message.get_msgId() == event.MAVLINK_MSG_ID_EVENT_DETECTION
        message.time = int(now * 1000) if millis else int(now)


def issued_at(message: Any) -> float | None:
    """When a message was created (Unix seconds), if it says; detections count in ms."""
    stamp = getattr(message, "time", 0)
    if not stamp:
        return None
    if message.get_msgId() == event.MAVLINK_MSG_ID_EVENT_DETECTION:
        return float(stamp) / 1000
    return float(stamp)


@dataclass(frozen=True, slots=True)
class Arrived:
    """An inner message for the application, authenticated and authorized."""

    src: int
    messages: list[Any]
    """One inner message, or a bundle: a mission assignment and its items."""
    priority: int
    at: float
    age: float | None = None
    """How old the head message was when it was sealed (seconds), if its type says."""
    ack: event.MAVLink_message | None = None
    """The EVENT_ACK to send once the application committed it (`ack_after_commit`)."""
    repeat: bool = False
    """Another copy of a message already handed over (only with `ack` set)."""


class NodeStack:
    """All the cores of one node. Feed it datagrams and time; take frames and events out."""

    def __init__(
        self,
        keys: NodeKeys,
        link_key: bytes,
        *,
        gateway: bool = False,
        clock: SigningClock | None = None,
        numbering: SeqNumbering | None = None,
        revocations: RevocationState | None = None,
        seed: int = 0,
        random_key: Callable[[], X25519PrivateKey] = X25519PrivateKey.generate,
        ack_after_commit: frozenset[int] = frozenset(),
    ) -> None:
        self.node_id = keys.certificate.node_id
        self.clock = clock or SigningClock()
        self.link = Link(LinkConfig(system_id=self.node_id, key=link_key), self.clock)
        self.router = Router(self.node_id, gateway=gateway, seed=seed)
        self.forwarder = Forwarder(self.router)
        self.sessions = SessionManager(
            keys, revocations or RevocationState(), self.clock, random_key
        )
        # The time to live, not a count, ends a message's retries: through a partition a
        # LOW message keeps trying (every minute at most) until its hour is over.
        self.reliable = ReliableSender(
            max_retries=MAX_RETRIES,
            jitter=random.Random(f"{seed}/retry/{self.node_id}"),
            numbering=numbering,
        )
        self.dedupe = DuplicateFilter()
        self.ack_after_commit = ack_after_commit
        self.authorizer = Authorizer()
        self.scheduler = TransmitScheduler()
        self.arrived: deque[Arrived] = deque()
        self.counters: Counter[str] = Counter()
        self.critical_wait = 0.0
        """Longest a CRITICAL frame waited in our queue for the radio, in seconds: the frame
        the radio already had, and the channel's other users, both count."""
        self.critical_behind_lower = 0
        """Most lower-priority frames sent while a CRITICAL frame waited (should be 0)."""
        self._lower_sent = 0
        self._unreachable: set[int] = set()
        self.events: deque[Event] = deque()

    # -- application ---------------------------------------------------------------------

    def send(
        self,
        dst: int,
        message: Any,
        now: float,
        wall: float,
        *,
        priority: Priority | None = None,
        attached: tuple[Any, ...] = (),
        held: float = 0.0,
        ttl: float | None = None,
    ) -> int:
        """Send an inner message (and `attached` in its bundle); returns its seq (0: none).

        `held`: how long the caller (its outbox) already had the message; `ttl`: how long
        it may still live, if less than its priority's time to live.
        """
        chosen = default_priority(message.get_msgId()) if priority is None else priority
        stamp(message, self.fleet_time(wall))
        # With no saved seq (`numbering.py`), numbering starts from the fleet time (256 a
        # second), most likely past anything a previous life sent.
        first_seq = int(self.fleet_time(wall) * 256)
        seq = self.reliable.send(
            dst, message, chosen, now, attached=attached, first_seq=first_seq, held=held, ttl=ttl
        )
        self._pump(now, wall)
        return seq

    def fleet_time(self, wall: float) -> float:
        """Unix time as the fleet keeps it: our clock, or the newest signing timestamp we
        sent or accepted if that is later (a Raspberry Pi has no real-time clock)."""
        return max(wall, EPOCH_2015 + self.clock.now(wall) / TICKS_PER_SECOND)

    # -- radio ---------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, now: float, wall: float) -> None:
        """Take one datagram (UDP radio) holding whole frames."""
        self._take(self.link.receive_datagram(data, wall), now, wall)

    def receive_stream(self, data: bytes, now: float, wall: float) -> None:
        """Take the next chunk of a byte stream (serial radio), cut anywhere: a frame
        split across chunks is joined, not dropped as truncated."""
        self._take(self.link.receive_data(data, wall), now, wall)

    def receive_idle(self, now: float, wall: float) -> None:
        """The stream has been quiet: give up on a frame that stopped short (counted)."""
        self._take(self.link.receive_idle(wall), now, wall)

    def _take(self, frames: list[Received], now: float, wall: float) -> None:
        for received in frames:
            self._receive(received.message, received.frame.system_id, now, wall)
        self._pump(now, wall)

    def next_frame(self, now: float, wall: float) -> bytes | None:
        """The next frame the radio should transmit, or None. It is signed now, as it
        leaves (`Link.stamp_leaving`), so its timestamp follows every frame sent before."""
        frame = self.scheduler.pop(now)
        if frame is None:
            return None
        if frame.priority is Priority.CRITICAL:
            self.critical_wait = max(self.critical_wait, now - frame.queued)
            ahead = self._lower_sent - frame.lower_sent_before
            self.critical_behind_lower = max(self.critical_behind_lower, ahead)
        else:
            self._lower_sent += 1
        return self.link.stamp_leaving(frame.data, wall)

    def status(self) -> dict[str, Any]:
        """Every layer's counters, in the order a message travels (the module docstring),
        for status files: `node` is this stack's own (late and stale arrivals, CRITICAL
        waits), the others are named after their layer."""
        return {
            "link": self.link.status(),
            "router": dict(self.router.counters),
            "forwarder": dict(self.forwarder.counters),
            "sessions": dict(self.sessions.counters),
            "fragments": dict(self.sessions.reassembler.counters),
            "authorizer": dict(self.authorizer.counters),
            "duplicates": dict(self.dedupe.counters),
            "sender": dict(self.reliable.counters),
            "scheduler": dict(self.scheduler.counters),
            "node": {
                **self.counters,
                "critical_wait": round(self.critical_wait, 3),
                "critical_behind_lower": self.critical_behind_lower,
            },
        }

    # -- timers --------------------------------------------------------------------------

    def next_deadline(self) -> float:
        deadlines = [
            self.router.next_deadline(),
            self.sessions.next_deadline(),
            self.forwarder.next_deadline(),
            self.reliable.next_deadline(),
        ]
        return min(d for d in deadlines if d is not None)

    def on_timer(self, now: float, wall: float) -> None:
        self.router.on_timer(now)
        self._track_paths(now)
        self.sessions.on_timer(now, wall)
        self.forwarder.on_timer(now)
        self.reliable.on_timer(now)
        self._pump(now, wall)

    # -- plumbing ------------------------------------------------------------------------

    def _receive(self, message: Any, src: int, now: float, wall: float) -> None:
        msgid = message.get_msgId()
        if msgid in MESH_CONTROL:
            self.router.receive(message, src, now)
            if self.router.routes_changed:
                self.router.routes_changed = False
                self.forwarder.on_timer(now)
                self._track_paths(now)
        elif msgid in SEALED:
            mine = self.forwarder.receive(message, src, now)
            if mine is not None:
                for delivered in self.sessions.receive(mine, now, wall):
                    self._accept(delivered, now, wall)

    def _accept(self, delivered: Any, now: float, wall: float) -> None:
        decision = self.authorizer.decide(delivered)
        for ack in decision.refusal_acks:
            self.sessions.send(delivered.src, [ack], delivered.priority, now, wall)
        bundle = []
        for message in decision.accepted:
            if message.get_msgId() == event.MAVLINK_MSG_ID_EVENT_ACK:
                reason = str(message.reason)
                self.reliable.on_ack(delivered.src, message.seq, message.outcome, now, reason)
            else:
                bundle.append(message)
        if not bundle:
            return
        head = bundle[0].get_msgId()
        age = age_of(bundle[0])
        if head == event.MAVLINK_MSG_ID_EVENT_DETECTION:
            self.counters["late"] += age is not None and age > LATE_AFTER
        elif age is not None and age > TTL[Priority(delivered.priority)]:
            self.counters["stale"] += 1
            if head in ACK_REQUIRED:
                ack = event.MAVLink_event_ack_message(
                    bundle[0].seq, MESSAGE_TYPE[head], event.EVENT_OUTCOME_EXPIRED, b""
                )
                self.sessions.send(delivered.src, [ack], delivered.priority, now, wall)
            return
        if head in ACK_REQUIRED:
            ack = event.MAVLink_event_ack_message(
                bundle[0].seq, MESSAGE_TYPE[head], event.EVENT_OUTCOME_ACCEPTED, b""
            )
            first = self.dedupe.first_time(delivered.src, bundle[0].seq)
            if head in self.ack_after_commit:
                arrived = Arrived(
                    delivered.src, bundle, delivered.priority, now, age, ack, not first
                )
                self.arrived.append(arrived)
                return
            self.sessions.send(delivered.src, [ack], delivered.priority, now, wall)
            if not first:
                return
        self.arrived.append(Arrived(delivered.src, bundle, delivered.priority, now, age))

    def acknowledge(self, arrived: Arrived, now: float, wall: float) -> None:
        """The application committed `arrived` (`ack_after_commit`): send its ACK now."""
        if arrived.ack is not None:
            self.sessions.send(arrived.src, [arrived.ack], arrived.priority, now, wall)
            self._pump(now, wall)

    def _track_paths(self, now: float) -> None:
        """Tell the sender when a destination it is waiting on becomes reachable again."""
        restored = False
        for dst in self.reliable.destinations():
            if self.router.next_hop(dst, now) is None:
                self._unreachable.add(dst)
            elif dst in self._unreachable:
                self._unreachable.discard(dst)
                self.reliable.path_restored(dst, now)
                restored = True
        if restored:
            self.reliable.on_timer(now)

    def _pump(self, now: float, wall: float) -> None:
        for outgoing in self.reliable.messages_to_send():
            self.sessions.send(
                outgoing.dst,
                list(outgoing.messages),
                outgoing.priority,
                now,
                wall,
                born=outgoing.born,
                deadline=outgoing.deadline,
            )
        while (reliability_event := self.reliable.next_event()) is not None:
            self.events.append(reliability_event)
        for sealed in self.sessions.frames_to_send():
            self.forwarder.send(sealed, now)
        for control in self.router.frames_to_send():
            self._queue(control, CONTROL_PRIORITY, "control", now, wall)
        for out in self.forwarder.frames_to_send():
            self._queue(out.message, Priority(out.priority), "data", now, wall)

    def _queue(self, message: Any, priority: Priority, kind: str, now: float, wall: float) -> None:
        data = self.link.send(message, wall)
        self.scheduler.push(
            Frame(
                data=data,
                priority=priority,
                kind=kind,
                deadline=now + TTL[priority],
                queued=now,
                lower_sent_before=self._lower_sent,
            )
        )
