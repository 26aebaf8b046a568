"""Whole node stacks (`NodeStack`) wired by an adjacency set, stepped in virtual time.

Frames travel as signed MAVLink 2 bytes, so every receiver decodes its own copy. Delivery
is instant and lossless: this harness checks the logic of multi-hop paths; the radio
model with airtime, loss and motion is `sitl.radio`.
"""

from __future__ import annotations

from collections.abc import Iterable

from companion.node import NodeStack
from companion.security.certificate import Role
from tests.companion.security.fleet import NOW_WALL, Fleet

from .harness import STEP

LINK_KEY = bytes(range(50, 82))


class StackMesh:
    def __init__(
        self, fleet: Fleet, nodes: Iterable[int], links: Iterable[tuple[int, int]], gateway: int
    ) -> None:
        self.nodes = {
            n: NodeStack(
                fleet.identity(n, Role.GROUND_STATION if n == gateway else Role.UAV),
                LINK_KEY,
                gateway=n == gateway,
                seed=3,
            )
            for n in nodes
        }
        self.links = {frozenset(link) for link in links}
        self.now = 0.0

    @property
    def wall(self) -> float:
        return NOW_WALL + self.now

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end:
            for stack in self.nodes.values():
                if stack.next_deadline() <= self.now:
                    stack.on_timer(self.now, self.wall)
            moved = True
            while moved:
                moved = False
                for src, stack in self.nodes.items():
                    while (data := stack.next_frame(self.now, self.wall)) is not None:
                        moved = True
                        for dst, peer in self.nodes.items():
                            if dst != src and frozenset((src, dst)) in self.links:
                                peer.receive_datagram(data, self.now, self.wall)
            self.now = round(self.now + STEP, 6)
