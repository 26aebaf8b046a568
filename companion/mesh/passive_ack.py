"""Link-break detection by passive acknowledgement (DSR, RFC 4728 section 8.1.3).

Rules:
- Waiting for three missed hellos takes 9 s; a route must be repaired within 3 s. So a
  node that hands a frame to a relay listens for that relay passing it on (the same frame
  identity, transmitted by the relay): that overheard copy is the acknowledgement, and
  costs no airtime.
- No copy heard within `TIMEOUT` counts as a miss; `MISSES_TO_BREAK` misses in a row,
  with no success in between, mean the link is broken. One miss alone is not: a
  collision or the 10 % background loss can hide a single copy.
- Frames handed to their final destination have no relay to overhear; the end-to-end
  ACK covers them.
- Bounded: at most `LIMIT` frames are watched; the oldest is forgotten first.
"""

from __future__ import annotations

from collections import Counter, OrderedDict

TIMEOUT = 1.0
MISSES_TO_BREAK = 2
LIMIT = 512

Identity = tuple[int, ...]


class PassiveAcks:
    """Frames we handed to relays, waiting to be overheard on their way on."""

    def __init__(self) -> None:
        self._waiting: OrderedDict[Identity, tuple[int, float]] = OrderedDict()
        self._misses: Counter[int] = Counter()

    def expect(self, identity: Identity, relay: int, now: float) -> None:
        self._waiting[identity] = (relay, now + TIMEOUT)
        self._waiting.move_to_end(identity)
        if len(self._waiting) > LIMIT:
            self._waiting.popitem(last=False)

    def heard(self, identity: Identity, transmitter: int) -> None:
        """A sealed frame was heard from `transmitter`: it may acknowledge one we watch."""
        waiting = self._waiting.get(identity)
        if waiting is not None and waiting[0] == transmitter:
            del self._waiting[identity]
            self._misses[transmitter] = 0

    def broken(self, now: float) -> list[int]:
        """Relays whose link has just been found broken."""
        broken = []
        for identity, (relay, deadline) in list(self._waiting.items()):
            if deadline > now:
                continue
            del self._waiting[identity]
            self._misses[relay] += 1
            if self._misses[relay] == MISSES_TO_BREAK:
                broken.append(relay)
        for relay in broken:
            self._misses[relay] = 0
            self._waiting = OrderedDict((k, v) for k, v in self._waiting.items() if v[0] != relay)
        return broken

    def next_deadline(self) -> float | None:
        return min((deadline for _, deadline in self._waiting.values()), default=None)
