"""What the operator's log says about what the radio refused: the link's drop counters
(`Link.drops`), read after each datagram and turned into a few lines.

Rules (STYLE.md: the peer's bad input is counted, logged once at a sane rate, dropped):
- The first drop of each reason is logged at once (`event=radio_drop reason=...`), then
  at most one line per reason every `interval` seconds (`LogLimiter`, keyed by reason),
  which says how many it held back. A new reason is never held back by another.
- `summarise()`, called by the runtime once a minute, logs one line with the drops by
  reason since the previous summary (`event=radio_drops_summary`), and nothing when
  nothing was dropped. The totals are in status.json (`stack.link`).
- Counts only, never the bytes: a flood of hostile datagrams writes a handful of lines.
"""

from __future__ import annotations

import logging
from collections import Counter

from ..log_limit import LogLimiter
from .drops import Drop

SUMMARY_EVERY = 60.0


class DropReport:
    """Rate-limited log lines about one link's drops. Time comes in as `now`."""

    def __init__(
        self, drops: Counter[Drop], logger: logging.Logger, *, interval: float = 60.0
    ) -> None:
        self._drops = drops
        self._log = logger
        self._limiter = LogLimiter(logger, interval)
        self._seen = drops.copy()
        self._summarised = drops.copy()

    def after_input(self, now: float) -> None:
        """Log, within each reason's rate limit, every reason counted since the last call."""
        if self._drops == self._seen:
            return
        for reason in Drop:
            if self._drops[reason] > self._seen[reason]:
                self._limiter.log(
                    logging.WARNING,
                    now,
                    "radio_drop",
                    "reason=%s total=%d",
                    reason,
                    self._drops[reason],
                    key=reason,
                )
        self._seen = self._drops.copy()

    def summarise(self, period: float) -> None:
        """Log the drops by reason since the last summary, `period` seconds ago, if any."""
        since = self._drops - self._summarised
        if not since:
            return
        self._summarised = self._drops.copy()
        counts = " ".join(f"{reason}={since[reason]}" for reason in Drop if since[reason])
        self._log.warning(
            "event=radio_drops_summary period=%.0f total=%d %s", period, since.total(), counts
        )
