"""Rate-limited log lines: a flood of the same event never fills a companion's SD card.

Rules:
- At most one line per event name (and key, if given) every `interval` seconds (on the
  caller's monotonic `now`); the first occurrence is always logged.
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

    def log(
        self, level: int, now: float, name: str, fmt: str = "", *args: Any, key: str = ""
    ) -> bool:
        """Log `event=name fmt % args` unless `name` went out less than `interval` ago.

        `key` splits one event name into limits of their own (a drop reason, say):
        `name` with one key never holds back the same name with another.
        """
        slot = f"{name}:{key}" if key else name
        if now < self._next.get(slot, float("-inf")):
            self.suppressed[slot] += 1
            return False
        self._next[slot] = now + self.interval
        held = self.suppressed.pop(slot, 0)
        parts = [f"event={name}", fmt, f"suppressed={held}" if held else ""]
        self._log.log(level, " ".join(part for part in parts if part), *args)
        return True
