"""Sliding anti-replay window over message counters (RFC 6479, as WireGuard uses it).

Rules:
- `check(counter)` says whether a counter may be new; it changes nothing. It is asked
  before decryption only to skip work; `accept(counter)` records the counter and is
  called only after the AEAD tag verified, so a forged counter can never move the
  window (RFC 6479 section 2; WireGuard's receive path does the same).
- A counter newer than any seen slides the window forward. One older than the newest
  by less than `size` is accepted once. Anything older is outside the window: a reordered
  frame that late is refused, like a replay.
The bitmap is a Python int of `size` bits: bit i stands for counter (newest - i).
"""

from __future__ import annotations

from enum import StrEnum

DEFAULT_SIZE = 1024


class Verdict(StrEnum):
    """What the window says about a counter."""

    NEW = "new"
    REPLAY = "replay"
    OUTSIDE_WINDOW = "outside_window"


class ReplayWindow:
    """Which counters of one session direction were already accepted."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._newest = -1
        self._seen = 0

    @property
    def newest(self) -> int:
        """The highest counter accepted so far; -1 before the first."""
        return self._newest

    def check(self, counter: int) -> Verdict:
        """Whether `counter` would be accepted now."""
        if counter > self._newest:
            return Verdict.NEW
        age = self._newest - counter
        if age >= self.size:
            return Verdict.OUTSIDE_WINDOW
        return Verdict.REPLAY if self._seen >> age & 1 else Verdict.NEW

    def accept(self, counter: int) -> Verdict:
        """Record `counter` (after its tag verified); returns the verdict it got."""
        verdict = self.check(counter)
        if verdict is not Verdict.NEW:
            return verdict
        if counter > self._newest:
            shift = counter - self._newest
            self._seen = (self._seen << shift | 1) & ((1 << self.size) - 1)
            self._newest = counter
        else:
            self._seen |= 1 << (self._newest - counter)
        return verdict
