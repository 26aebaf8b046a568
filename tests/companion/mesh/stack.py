"""Whole node stacks (link, router, forwarder, sessions) wired by an adjacency set.

Frames travel as signed MAVLink 2 bytes, so every receiver decodes its own copy. Time is
stepped in fixed increments; delivery is instant. The radio model with airtime, loss and
motion is `sitl.radio`; this harness only checks the logic of multi-hop paths.
"""

from __future__ import annotations

from collections.abc import Iterable

from companion.link import Link, LinkConfig, SigningClock
from companion.mesh.forwarder import Forwarder
from companion.mesh.router import Router
from companion.security.certificate import Role
from companion.security.revocation import RevocationState
from companion.security.session import Delivered, SessionManager
from dialects import event
from tests.companion.security.fleet import NOW_WALL, Fleet

from .harness import STEP

LINK_KEY = bytes(range(50, 82))
SEALED = {
    event.MAVLINK_MSG_ID_EVENT_ENVELOPE,
    event.MAVLINK_MSG_ID_EVENT_FRAGMENT,
    event.MAVLINK_MSG_ID_EVENT_HANDSHAKE,
}


class StackNode:
    def __init__(self, fleet: Fleet, node: int, gateway: bool) -> None:
        role = fleet.identity(node, _role(gateway))
        self.node_id = node
        self.clock = SigningClock()
        self.link = Link(LinkConfig(system_id=node, key=LINK_KEY), self.clock)
        self.router = Router(node, gateway=gateway, seed=3)
        self.forwarder = Forwarder(self.router)
        self.sessions = SessionManager(role, RevocationState(), self.clock)
        self.delivered: list[Delivered] = []

    def frames(self, now: float) -> list[bytes]:
        for sealed in self.sessions.frames_to_send():
            self.forwarder.send(sealed, now)
        out = self.router.frames_to_send()
        out += [o.message for o in self.forwarder.frames_to_send()]
        return [self.link.send(m, NOW_WALL + now) for m in out]

    def receive(self, data: bytes, now: float) -> None:
        for received in self.link.receive_datagram(data, NOW_WALL + now):
            message, src = received.message, received.frame.system_id
            if message.get_msgId() in SEALED:
                mine = self.forwarder.receive(message, src, now)
                if mine is not None:
                    self.delivered += self.sessions.receive(mine, now, NOW_WALL + now)
            else:
                self.router.receive(message, src, now)
                if self.router.routes_changed:
                    self.router.routes_changed = False
                    self.forwarder.on_timer(now)

    def tick(self, now: float) -> None:
        if self.router.next_deadline() <= now:
            self.router.on_timer(now)
        deadline = self.sessions.next_deadline()
        if deadline is not None and deadline <= now:
            self.sessions.on_timer(now, NOW_WALL + now)
        deadline = self.forwarder.next_deadline()
        if deadline is not None and deadline <= now:
            self.forwarder.on_timer(now)


def _role(gateway: bool) -> Role:
    return Role.GROUND_STATION if gateway else Role.UAV


class StackMesh:
    def __init__(
        self, fleet: Fleet, nodes: Iterable[int], links: Iterable[tuple[int, int]], gateway: int
    ) -> None:
        self.nodes = {n: StackNode(fleet, n, n == gateway) for n in nodes}
        self.links = {frozenset(link) for link in links}
        self.now = 0.0

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end:
            for node in self.nodes.values():
                node.tick(self.now)
            moved = True
            while moved:
                moved = False
                for src, node in self.nodes.items():
                    for data in node.frames(self.now):
                        moved = True
                        for dst, peer in self.nodes.items():
                            if dst != src and frozenset((src, dst)) in self.links:
                                peer.receive(data, self.now)
            self.now = round(self.now + STEP, 6)
