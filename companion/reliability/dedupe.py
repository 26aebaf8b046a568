"""Suppression of duplicate ACK-required messages by (source, seq).

Rules (docs/protocol.md "Reliability"):
- Duplicates come from our own retransmissions whose original was delivered but whose
  ACK was lost, and from relays that forward the same envelope twice. The receiver must
  ACK a duplicate again (its first ACK may be the one that was lost) but never act on it.
- Per source, a sliding window over the uint32 seqs (as RFC 6479 does for counters):
  the newest seq seen and a bitmap of the `window` seqs behind it. Seqs compare by
  serial-number arithmetic (RFC 1982), so the window survives the wrap from 2**32 - 1.
- A seq newer than the newest slides the window. One inside the window is new once.
  One older than the window is refused as a duplicate: the sender keeps at most a few
  messages in flight and stops retransmitting at the TTL, so a seq that far behind can
  only be a stale copy. At most once beats at least once for a mission abort.
- Memory: at most `max_sources` sources, each `window` bits; when full, the source heard
  from least recently is forgotten (counted). A peer that restarted begins again at
  seq 1; the node calls `forget(src)` when its session with that peer is new.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass

SEQ_MODULUS = 1 << 32
SERIAL_HALF = 1 << 31


@dataclass(slots=True)
class _Window:
    newest: int
    seen: int = 1
    """Bit i stands for seq (newest - i)."""


class DuplicateFilter:
    """Which (source, seq) pairs were already delivered."""

    def __init__(self, *, window: int = 1024, max_sources: int = 256) -> None:
        self.window = window
        self.max_sources = max_sources
        self.counters: Counter[str] = Counter()
        self._sources: OrderedDict[int, _Window] = OrderedDict()

    def __len__(self) -> int:
        """Sources remembered."""
        return len(self._sources)

    def first_time(self, src: int, seq: int) -> bool:
        """True, and remembered, if `seq` from `src` was not delivered before."""
        state = self._sources.get(src)
        if state is None:
            self._add_source(src, seq)
            return self._verdict(True)
        self._sources.move_to_end(src)
        ahead = (seq - state.newest) % SEQ_MODULUS
        if 0 < ahead < SERIAL_HALF:
            shifted = state.seen << ahead if ahead < self.window else 0
            state.seen = (shifted | 1) & ((1 << self.window) - 1)
            state.newest = seq
            return self._verdict(True)
        age = (state.newest - seq) % SEQ_MODULUS
        if age >= self.window:
            self.counters["too_old"] += 1
            return False
        if state.seen >> age & 1:
            return self._verdict(False)
        state.seen |= 1 << age
        return self._verdict(True)

    def forget(self, src: int) -> None:
        """Drop what is known of `src` (it restarted: its seqs begin again at 1)."""
        if self._sources.pop(src, None) is not None:
            self.counters["forgotten"] += 1

    def _add_source(self, src: int, seq: int) -> None:
        if len(self._sources) >= self.max_sources:
            self._sources.popitem(last=False)
            self.counters["source_evicted"] += 1
        self._sources[src] = _Window(seq)

    def _verdict(self, new: bool) -> bool:
        self.counters["first_time" if new else "duplicate"] += 1
        return new
