"""The node clock: how long this node has held a message, steady while it runs and across
restarts. Message age is measured on it and nowhere else (docs/protocol.md, "Time").

Rules:
- Nodes never compare clocks. A message carries its `age`; the node holding it adds the
  time it held it, read on this clock; receivers judge the time to live by the age alone.
- While the process runs the clock advances with trio's clock (monotonic), so a jump of
  the wall clock (NTP or GPS time arriving, `date -s`, a bad RTC corrected) changes
  nothing.
- Across a restart it goes on from its last checkpoint plus the downtime the wall clock
  reports (wall now minus the checkpoint's wall time). A downtime that comes out negative
  (the wall clock went back while the node was off, as a Raspberry Pi without RTC does)
  counts as 0, logged: the clock never runs backwards.
- With no checkpoint (first start) it starts at the wall clock, so readings look like
  Unix times. An unreadable checkpoint is logged and counted, then treated as none.
- A checkpoint is "<clock> <wall>" in one small file, replaced durably every
  CHECKPOINT_EVERY seconds while running and at a clean stop. After a SIGKILL the time
  since the last checkpoint is not lost: the wall clock's downtime covers it.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

from .durable_file import replace_durably

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 10.0
"""Seconds between checkpoints while running."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A reading of the node clock and the wall clock at the same moment."""

    clock: float
    wall: float

    def encode(self) -> str:
        return f"{self.clock!r} {self.wall!r}\n"

    @classmethod
    def decode(cls, text: str) -> Checkpoint:
        """Parse a checkpoint; ValueError if `text` is not two finite non-negative numbers."""
        fields = text.split()
        if len(fields) != 2:
            raise ValueError(f"{len(fields)} fields, not 2")
        clock, wall = (float(field) for field in fields)
        if not all(math.isfinite(v) and v >= 0 for v in (clock, wall)):
            raise ValueError("not finite non-negative numbers")
        return cls(clock, wall)


def resume(checkpoint: Checkpoint | None, wall: float) -> tuple[float, float]:
    """Where the clock starts after a restart, and the downtime counted (seconds, >= 0)."""
    if checkpoint is None:
        return wall, 0.0
    downtime = max(0.0, wall - checkpoint.wall)
    return checkpoint.clock + downtime, downtime


class NodeClock:
    """Call it for the node clock's reading. Build it with `NodeClock.open` inside trio."""

    def __init__(
        self, start: float, *, wall_clock: Callable[[], float], path: Path | None = None
    ) -> None:
        self._start = start
        self._origin = trio.current_time()
        self._wall = wall_clock
        self.path = path
        self.counters: Counter[str] = Counter()

    def __call__(self) -> float:
        return self._start + (trio.current_time() - self._origin)

    @classmethod
    def open(cls, path: Path, wall_clock: Callable[[], float] = time.time) -> NodeClock:
        """The clock continued from the checkpoint at `path` (see the rules)."""
        wall = wall_clock()
        checkpoint, unreadable = _read(path)
        start, downtime = resume(checkpoint, wall)
        clock = cls(start, wall_clock=wall_clock, path=path)
        if unreadable:
            clock.counters["checkpoint_unreadable"] += 1
        if checkpoint is not None and wall < checkpoint.wall:
            clock.counters["wall_went_back"] += 1
            log.warning(
                "event=wall_clock_went_back file=%s by=%.1f: the downtime counts as 0",
                path,
                checkpoint.wall - wall,
            )
        log.info("event=node_clock_resumed downtime=%.1f checkpoint=%s", downtime, path)
        return clock

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self(), self._wall())

    def save(self) -> None:
        """Write a checkpoint now (blocking: call it from a thread while trio runs)."""
        if self.path is not None:
            replace_durably(self.path, self.checkpoint().encode())

    async def run(self) -> None:
        """Checkpoint every CHECKPOINT_EVERY seconds until cancelled."""
        while True:
            await trio.sleep(CHECKPOINT_EVERY)
            if self.path is not None:
                text = self.checkpoint().encode()
                await trio.to_thread.run_sync(replace_durably, self.path, text)
                self.counters["checkpoints"] += 1

    def status(self) -> dict[str, float | int]:
        """For status.json: the reading and the counters."""
        return {"now": round(self(), 3), **self.counters}


def _read(path: Path) -> tuple[Checkpoint | None, bool]:
    """The checkpoint at `path` (None if absent or unreadable), and whether it was unreadable."""
    try:
        return Checkpoint.decode(path.read_text(encoding="ascii")), False
    except FileNotFoundError:
        return None, False
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        problem = repr(exc)
    log.error("event=node_clock_unreadable file=%s error=%s: starting from the wall", path, problem)
    return None, True
