"""The seqs of one node's ACK-required messages, never reused, across restarts too (sans-IO).

Rules (docs/protocol.md "Reliability"):
- One counter numbers every ACK-required message the node sends, whatever its
  destination. A receiver's duplicate window slides over the gaps that messages to
  other destinations leave, and one number is all a restart has to keep.
- Seqs are uint32 from 1, wrapping back to 1 (0 means "no seq"). The counter itself
  runs on without wrapping; `wrap` maps it to a seq.
- A receiver keeps the window of what it delivered from us while we restart, so a seq
  used before a restart must never be used after it: that message would be ACKed and
  dropped as a duplicate, and lost. Wall clocks cannot promise this (a Raspberry Pi has
  no real-time clock and a clock behind the fleet's stands still in fleet time), so the
  counter keeps a reservation on disk, as the signing clock does: after `take`,
  `pending_reservation` says what must be saved before that message's frame leaves;
  the caller saves it, then calls `confirm_reservation`. A restart starts at the saved
  value. After a SIGKILL that skips at most `reserve_ahead` seqs, which the window
  slides over.
- At a clean stop `settle` gives the next unused seq to save in place of the
  reservation, so a SIGTERM restart skips none.
- With nothing restored (first start, or the saved value lost) numbering starts at the
  caller's `start` (the node gives 256 a second of fleet time), so it most likely still
  runs past what a previous life sent.
"""

from __future__ import annotations

SEQ_MAX = 0xFFFFFFFF
RESERVE_AHEAD = 1024
"""Seqs reserved per save: one durable write per this many messages."""


def wrap(counter: int) -> int:
    """The uint32 seq (1..SEQ_MAX) of a counter value."""
    return (counter - 1) % SEQ_MAX + 1


class SeqNumbering:
    """Hands out seqs; `restored` is the value a previous run saved (None if none)."""

    def __init__(self, restored: int | None = None, reserve_ahead: int = RESERVE_AHEAD) -> None:
        self._next = restored
        self._reserved = 0 if restored is None else restored
        self._reserve_ahead = reserve_ahead

    def take(self, start: int = 1) -> int:
        """The next seq; the first one is `start` if nothing was restored."""
        if self._next is None:
            self._next = self._reserved = wrap(start)
        counter = self._next
        self._next += 1
        return wrap(counter)

    @property
    def pending_reservation(self) -> int | None:
        """What to save before the last seq taken may leave; None if the saved value covers it."""
        if self._next is None or self._next <= self._reserved:
            return None
        return self._next + self._reserve_ahead

    def confirm_reservation(self, value: int) -> None:
        """`value` is now on stable storage."""
        self._reserved = max(self._reserved, value)

    def settle(self) -> int | None:
        """At a clean stop: the next unused seq, to save in place of the reservation; None if
        nothing needs saving. A seq taken after this waits for a new reservation."""
        if self._next is None or self._next == self._reserved:
            return None
        self._reserved = self._next
        return self._next

    def status(self) -> dict[str, int | None]:
        """Read-only figures for status files."""
        return {
            "next": None if self._next is None else wrap(self._next),
            "saved": None if self._next is None else wrap(self._reserved),
        }
