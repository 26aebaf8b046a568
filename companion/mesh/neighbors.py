"""Neighbours heard over our own radio, and the quality of each link.

Rules:
- A neighbour exists only because we heard its EVENT_HELLO ourselves (no second-hand
  knowledge). It is lost after `ALLOWED_HELLO_LOSS` of its own hello intervals without
  one (RFC 3561 section 6.11: ALLOWED_HELLO_LOSS).
- Reverse delivery ratio d_r: the share of its last `WINDOW` hellos (by hello_seq) that
  we received, counting those sent before we first heard it as missed. Forward ratio
  d_f: what it reports hearing of ours, in its hello.
- Link cost is the expected transmission count ETX = 1 / (d_f * d_r) (De Couto et al.,
  MobiCom 2003), in sixteenths, so a perfect link costs 16 and a path's cost is the sum.
- Hello sequence numbers that jump backwards restart the window (the neighbour rebooted);
  jumps forward count the gap as lost hellos.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WINDOW = 10
ALLOWED_HELLO_LOSS = 3
COST_UNIT = 16
MAX_COST = 0xFFFE
MIN_QUALITY = 26
"""About 10%: below this, in either direction, the link is not used for routing."""


@dataclass(slots=True)
class Neighbor:
    node: int
    interval: float
    last_heard: float
    last_seq: int
    received: set[int] = field(default_factory=set)
    forward_quality: int = 0
    """How well it hears us, 0-255, from its hello."""

    @property
    def reverse_quality(self) -> int:
        """How well we hear it, 0-255."""
        # Hellos before the first one we heard count as lost (hello_seq starts at 1):
        # a far neighbour heard once is not a perfect link, a node that just booted is.
        first = max(self.last_seq - WINDOW + 1, 1)
        expected = self.last_seq - first + 1
        return 255 * len(self.received) // max(expected, 1)

    @property
    def cost(self) -> int:
        forward, reverse = self.forward_quality, self.reverse_quality
        if forward < MIN_QUALITY or reverse < MIN_QUALITY:
            return MAX_COST
        return min(MAX_COST, COST_UNIT * 255 * 255 // (forward * reverse))


class NeighborTable:
    """Who we hear, and how well, from hellos."""

    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self._neighbors: dict[int, Neighbor] = {}

    def __contains__(self, node: int) -> bool:
        return node in self._neighbors

    def on_hello(self, src: int, hello: Any, now: float) -> bool:
        """Record a hello from `src`; True if `src` is a new neighbour."""
        interval = max(hello.interval, 1) / 10
        neighbor = self._neighbors.get(src)
        new = neighbor is None
        if neighbor is None or hello.hello_seq <= neighbor.last_seq - WINDOW:
            neighbor = self._neighbors[src] = Neighbor(src, interval, now, hello.hello_seq)
        neighbor.interval, neighbor.last_heard = interval, now
        neighbor.last_seq = max(neighbor.last_seq, hello.hello_seq)
        neighbor.received.add(hello.hello_seq)
        neighbor.received = {s for s in neighbor.received if s > neighbor.last_seq - WINDOW}
        count = min(hello.neighbor_count, len(hello.links) // 2)
        pairs = hello.links[: 2 * count]
        reported = dict(zip(pairs[0::2], pairs[1::2], strict=True))
        neighbor.forward_quality = reported.get(self.node_id, 0)
        return new

    def expire(self, now: float) -> list[int]:
        """Forget neighbours silent for too long; return who was lost."""
        lost = [
            n.node
            for n in self._neighbors.values()
            if now - n.last_heard > ALLOWED_HELLO_LOSS * n.interval
        ]
        for node in lost:
            del self._neighbors[node]
        return lost

    def remove(self, node: int) -> None:
        """The link to `node` was found broken (no hello needed to say so)."""
        self._neighbors.pop(node, None)

    def cost(self, node: int) -> int:
        neighbor = self._neighbors.get(node)
        return MAX_COST if neighbor is None else neighbor.cost

    def usable(self, node: int) -> bool:
        return self.cost(node) < MAX_COST

    def report(self, limit: int = 32) -> list[tuple[int, int]]:
        """(node, how well we hear it) for our hello, best heard first."""
        ranked = sorted(self._neighbors.values(), key=lambda n: -n.reverse_quality)
        return [(n.node, n.reverse_quality) for n in ranked[:limit]]
