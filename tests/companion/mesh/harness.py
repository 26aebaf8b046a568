"""Routers wired by an adjacency set, stepped in virtual time: the control plane alone."""

from __future__ import annotations

from collections.abc import Iterable

from companion.mesh.router import Router

STEP = 0.05


class Mesh:
    """Every frame a router emits reaches exactly the nodes linked to it, at once."""

    def __init__(self, nodes: Iterable[int], links: Iterable[tuple[int, int]], gateway: int):
        self.routers = {n: Router(n, gateway=n == gateway, seed=1) for n in nodes}
        self.links = {frozenset(link) for link in links}
        self.now = 0.0

    def linked(self, a: int, b: int) -> bool:
        return frozenset((a, b)) in self.links

    def cut(self, a: int, b: int) -> None:
        self.links.discard(frozenset((a, b)))

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end:
            for router in self.routers.values():
                if router.next_deadline() <= self.now:
                    router.on_timer(self.now)
            self.deliver()
            self.now = round(self.now + STEP, 6)

    def deliver(self) -> None:
        moved = True
        while moved:
            moved = False
            for node, router in self.routers.items():
                for frame in router.frames_to_send():
                    moved = True
                    for other, peer in self.routers.items():
                        if other != node and self.linked(node, other):
                            peer.receive(frame, node, self.now)

    def route(self, src: int, dest: int) -> list[int]:
        """The path frames from `src` to `dest` would take now (stops at a dead end or loop)."""
        path = [src]
        while path[-1] != dest and len(path) < 20:
            hop = self.routers[path[-1]].next_hop(dest, self.now)
            if hop is None or hop in path:
                break
            path.append(hop)
        return path
