"""The route table: one entry per destination, updated by RFC 3561 rules.

Rules (RFC 3561 section 6.2, with ETX cost in place of hop count):
- A route is replaced by a newer one: a higher destination sequence number (compared
  in serial number arithmetic, RFC 1982), or the same number with a lower cost, or any
  route when ours is invalid or has an unknown sequence number. This is what keeps
  routes loop free: a node only ever moves to fresher information about a destination.
- A broken link invalidates every route through it and raises the destination sequence
  numbers by one, for the route error (section 6.11). A broken or expired route is
  replaced by any information not older than what it had before it broke.
- Hop counts above `MAX_HOPS` are impossible in this network and refused.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_HOPS = 15
_HALF = 1 << 31


def seq_newer(a: int, b: int) -> bool:
    """True if uint32 sequence number `a` is newer than `b` (RFC 1982)."""
    return a != b and (a - b) % (1 << 32) < _HALF


@dataclass(slots=True)
class Route:
    dest: int
    next_hop: int
    hops: int
    cost: int
    dest_seq: int | None
    expires: float
    valid: bool = True


class RouteTable:
    """Routes to destinations, as learned from route replies and adverts."""

    def __init__(self) -> None:
        self._routes: dict[int, Route] = {}

    def lookup(self, dest: int, now: float) -> Route | None:
        """The valid, unexpired route to `dest`, if any."""
        route = self._routes.get(dest)
        if route is None or not route.valid or route.expires <= now:
            return None
        return route

    def known_seq(self, dest: int) -> int | None:
        route = self._routes.get(dest)
        return None if route is None else route.dest_seq

    def offer(self, candidate: Route, now: float) -> bool:
        """Install `candidate` if it is better by the RFC 3561 rules; True if installed."""
        if not 0 < candidate.hops <= MAX_HOPS:
            return False
        current = self._routes.get(candidate.dest)
        if current is None or self._better(candidate, current):
            self._routes[candidate.dest] = candidate
            return True
        if (not current.valid or current.expires <= now) and self._not_staler(candidate, current):
            self._routes[candidate.dest] = candidate
            return True
        if current.next_hop == candidate.next_hop and current.dest_seq == candidate.dest_seq:
            current.expires = max(current.expires, candidate.expires)  # refreshed
        return False

    @staticmethod
    def _not_staler(candidate: Route, current: Route) -> bool:
        """For a broken or expired route: anything but information older than what it had
        before it broke (its number was raised by one when it did)."""
        if current.dest_seq is None or candidate.dest_seq is None:
            return True
        before_break = (current.dest_seq - (0 if current.valid else 1)) % (1 << 32)
        return not seq_newer(before_break, candidate.dest_seq)

    @staticmethod
    def _better(candidate: Route, current: Route) -> bool:
        if current.dest_seq is None:
            return True
        if candidate.dest_seq is None:
            return False
        if seq_newer(candidate.dest_seq, current.dest_seq):
            return True
        return candidate.dest_seq == current.dest_seq and candidate.cost < current.cost

    def break_link(self, neighbor: int) -> list[tuple[int, int]]:
        """Invalidate routes through `neighbor`; (dest, raised seq) for the route error."""
        broken = []
        for route in self._routes.values():
            if route.valid and route.next_hop == neighbor:
                route.valid = False
                if route.dest_seq is not None:
                    route.dest_seq = (route.dest_seq + 1) % (1 << 32)
                broken.append((route.dest, route.dest_seq or 0))
        return broken

    def invalidate(self, dest: int, dest_seq: int, via: int) -> bool:
        """A route error from `via` says `dest` is unreachable; True if that hit our route."""
        route = self._routes.get(dest)
        if route is None or not route.valid or route.next_hop != via:
            return False
        route.valid = False
        route.dest_seq = dest_seq
        return True
