"""Saving a counter's reservation before what it numbered leaves the node.

Rules:
- A counter that must never repeat across restarts (the signing clock's timestamps,
  `link/signing.py`; the seqs of ACK-required messages, `reliability/numbering.py`)
  says, after handing out a value, what must be on disk first (`pending_reservation`).
  The runtime saves it in a worker thread (an fsync on an SD card can take a while)
  before the frame is transmitted, then confirms it to the counter.
- At a clean stop, once nothing transmits any more, the last value used is saved in
  place of the reservation (`settle`), so a clean restart skips nothing. A failed write
  there leaves the reservation on disk, which is just as safe: logged, not raised, so it
  never hides why the node stopped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import trio

log = logging.getLogger(__name__)


class Reserving(Protocol):
    """A counter with a reservation on disk."""

    @property
    def pending_reservation(self) -> int | None: ...
    def confirm_reservation(self, value: int) -> None: ...
    def settle(self) -> int | None: ...


class ReservationStore(Protocol):
    """Where a counter's reservation is saved."""

    @property
    def path(self) -> Path: ...
    def save(self, value: int) -> None: ...


async def save_reservation(counter: Reserving, store: ReservationStore | None) -> None:
    """Save what `counter` needs saved before its last value may leave, then confirm it."""
    pending = counter.pending_reservation
    if pending is None:
        return
    if store is not None:
        await trio.to_thread.run_sync(store.save, pending)
    counter.confirm_reservation(pending)


def save_last_used(counter: Reserving, store: ReservationStore) -> None:
    """At a clean stop: save the last value used in place of the reservation. Blocking."""
    value = counter.settle()
    if value is None:
        return
    try:
        store.save(value)
    except OSError as exc:
        log.warning("event=reservation_unsaved file=%s: %s", store.path, exc)
