"""A seeded lossy, duplicating, reordering radio for session tests, on trio's clock.

Every frame goes through the real link layer (MAVLink 2 frames, signed) and the real
session manager. Each directed link draws loss, duplication and latency from its own RNG
seeded from (seed, src, dst), so the outcome does not depend on trio's task order.
`TestNode` adds a minimal retry-until-ACKed loop over the sessions (a stand-in for the
reliability layer of issue 4) so the tests can assert exact delivered sets.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import trio

from companion.link import Link, LinkConfig, SigningClock
from companion.security.authority import NodeKeys
from companion.security.authorization import MESSAGE_TYPE, Authorizer
from companion.security.revocation import RevocationState
from companion.security.session import SessionManager
from dialects import event

LINK_KEY = bytes(range(100, 132))
WALL_EPOCH = 1_780_000_000.0
RETRY_EVERY = 3.0


def wall() -> float:
    return WALL_EPOCH + trio.current_time()


@dataclass
class Medium:
    """Broadcast radio: every frame reaches every other node, subject to the dice."""

    nursery: trio.Nursery
    seed: int
    loss: float = 0.2
    duplicate: float = 0.05
    latency: float = 0.05
    jitter: float = 0.4
    nodes: dict[int, TestNode] = field(default_factory=dict)
    _rngs: dict[tuple[int, int], random.Random] = field(default_factory=dict)
    cut: set[int] = field(default_factory=set)
    """Nodes currently switched off: they neither send nor receive."""

    def transmit(self, src: int, data: bytes) -> None:
        if src in self.cut:
            return
        for dst, node in self.nodes.items():
            if dst == src:
                continue
            rng = self._rngs.setdefault((src, dst), random.Random(f"{self.seed}/{src}/{dst}"))
            if rng.random() < self.loss:
                continue
            copies = 2 if rng.random() < self.duplicate else 1
            for _ in range(copies):
                delay = self.latency + rng.random() * self.jitter
                self.nursery.start_soon(self._deliver, node, dst, data, delay)

    async def _deliver(self, node: TestNode, dst: int, data: bytes, delay: float) -> None:
        await trio.sleep(delay)
        if dst not in self.cut:
            node.inbox.send_nowait(data)


class TestNode:
    """A node with a link, a session manager, an authorizer and a retry loop."""

    __test__ = False

    def __init__(self, identity: NodeKeys, medium: Medium, revocations: RevocationState) -> None:
        self.identity = identity
        self.node_id = identity.certificate.node_id
        self.medium = medium
        self.revocations = revocations
        self.clock = SigningClock()
        self.link = Link(LinkConfig(system_id=self.node_id, key=LINK_KEY), self.clock)
        self.sessions = SessionManager(identity, revocations, self.clock)
        self.authorizer = Authorizer()
        self.inbox, self._inbox_out = trio.open_memory_channel[bytes](math.inf)
        self.accepted: Counter[tuple[int, str, int]] = Counter()
        """(src, message type, seq) -> times acted upon (after de-duplication: once)."""
        self.acks: dict[tuple[int, int], int] = {}
        """(peer, seq) -> outcome of the ACK received for what we sent."""
        self._unacked: dict[tuple[int, int], tuple[Any, int, float]] = {}
        medium.nodes[self.node_id] = self

    def restart(self) -> None:
        """Reboot: every session forgotten; the signing clock's saved value survives."""
        self.clock = SigningClock(restored=self.clock.now(wall()))
        self.link = Link(LinkConfig(system_id=self.node_id, key=LINK_KEY), self.clock)
        self.sessions = SessionManager(self.identity, self.revocations, self.clock)

    def send(self, dst: int, message: Any, priority: int = 1) -> None:
        now = trio.current_time()
        if message.get_msgId() in MESSAGE_TYPE:
            self._unacked[(dst, message.seq)] = (message, priority, now + RETRY_EVERY)
        self.sessions.send(dst, [message], priority, now, wall())
        self._flush()

    def pending(self) -> int:
        return len(self._unacked)

    def _flush(self) -> None:
        for frame in self.sessions.frames_to_send():
            self.medium.transmit(self.node_id, self.link.send(frame, wall()))

    def _on_messages(self, src: int, messages: list[Any]) -> None:
        for message in messages:
            if message.get_msgId() == event.MAVLINK_MSG_ID_EVENT_ACK:
                self.acks[(src, message.seq)] = message.outcome
                self._unacked.pop((src, message.seq), None)
                continue
            key = (src, message.get_type(), getattr(message, "seq", 0))
            if key not in self.accepted:
                self.accepted[key] += 1
            if message.get_msgId() in MESSAGE_TYPE:
                msg_type = MESSAGE_TYPE[message.get_msgId()]
                ack = event.MAVLink_event_ack_message(
                    message.seq, msg_type, event.EVENT_OUTCOME_COMPLETED, b""
                )
                self.sessions.send(src, [ack], 1, trio.current_time(), wall())

    async def run(self) -> None:
        while True:
            deadline = min(
                [t for t in (self.sessions.next_deadline(), self._next_retry()) if t is not None],
                default=math.inf,
            )
            with trio.move_on_at(deadline):
                data = await self._inbox_out.receive()
                self._receive(data)
            self._on_timer()
            self._flush()

    def _receive(self, data: bytes) -> None:
        now = trio.current_time()
        for received in self.link.receive_datagram(data, wall()):
            for delivered in self.sessions.receive(received.message, now, wall()):
                decision = self.authorizer.decide(delivered)
                self._on_messages(delivered.src, decision.accepted)
                for ack in decision.refusal_acks:
                    self.sessions.send(delivered.src, [ack], 1, now, wall())

    def _next_retry(self) -> float | None:
        return min((t for _, _, t in self._unacked.values()), default=None)

    def _on_timer(self) -> None:
        now = trio.current_time()
        self.sessions.on_timer(now, wall())
        for (dst, seq), (message, priority, due) in list(self._unacked.items()):
            if due <= now:
                self._unacked[(dst, seq)] = (message, priority, now + RETRY_EVERY)
                self.sessions.send(dst, [message], priority, now, wall())
