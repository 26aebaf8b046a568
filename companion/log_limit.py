"""Rate-limited log lines: a flood of the same event never fills a companion's SD card.

Rules:
- At most one line per event name every `interval` seconds (on the caller's monotonic
  `now`); the first occurrence is always logged.
- The lines held back are counted and the next line that goes out says how many
  (`suppressed=N`), so nothing is hidden, only summarised. The caller keeps its own
  counters for status; this is only about the log.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any


class LogLimiter:
    """Logs `event=<name> ...` lines through `logger`, each name at most once per interval."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self._log = logger
        self.interval = interval
        self._next: dict[str, float] = {}
        self.suppressed: Counter[str] = Counter()

    def log(self, level: int, now: float, name: str, fmt: str = "", *args: Any) -> bool:
        """Log `event=name fmt % args` unless `name` went out less than `interval` ago."""
        if now < self._next.get(name, float("-inf")):
            self.suppressed[name] += 1
            return False
        self._next[name] = now + self.interval
        held = self.suppressed.pop(name, 0)
        tail = f" suppressed={held}" if held else ""
        self._log.log(level, f"event={name} {fmt}{tail}".rstrip(), *args)
        return True
