"""The signing clock's reservation on disk, so timestamps never repeat across restarts.

Rules:
- One small file holding a decimal integer. Writes go to a temporary file that is fsynced
  and renamed over the old one, then the directory is fsynced: after a power cut the file
  holds either the old or the new reservation, never a torn one.
- Loading is bounded (`signing.restore_refusal`): a value at or past the signing ceiling,
  or more than `max_ahead` ahead of a plausible wall clock, is refused with one ERROR line
  naming the file and the figures, counted in `refused_loads`, and the node starts from
  the wall clock. Restoring it would leave the node mute: every peer refuses its frames as
  AHEAD (or, from a version without the ceiling, a value near 2^48 wraps to 0, stale).
- Refusing (or losing) the file trades the never-reuse rule for being heard. It stays safe
  for the fleet: receivers refuse anything not newer than what they saw from us, so the
  worst case is that our first frames are refused until the clock passes them.
- Saving before a frame leaves, and the last timestamp used at a clean stop (so a SIGTERM
  restart does not skip a whole window), is `reservation.py`'s. After a SIGKILL the
  reservation on disk is still ahead of everything used.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..durable_file import replace_durably
from .signing import MAX_AHEAD, TIMESTAMP_MAX, restore_refusal, tick_date

log = logging.getLogger(__name__)

_MAX_DIGITS = len(str(TIMESTAMP_MAX))


class TimestampStore:
    """Load and save a `SigningClock` reservation at `path`."""

    def __init__(self, path: Path, max_ahead: int = MAX_AHEAD) -> None:
        self.path = path
        self.max_ahead = max_ahead
        self.corrupt_loads = 0
        self.refused_loads = 0

    def load(self, wall_time: float) -> int:
        """The saved reservation; 0 (start from the wall clock) if there is none, or it is
        unreadable or implausible at `wall_time` (each logged and counted)."""
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as exc:
            return self._corrupt(f"unreadable: {exc}")
        if not text.isdigit():
            return self._corrupt("not a decimal integer")
        digits = text.lstrip("0") or "0"
        if len(digits) > _MAX_DIGITS:
            return self._refuse(f"{digits[:_MAX_DIGITS]}... ({len(digits)} digits)", "past 48 bits")
        value = int(digits)
        why = restore_refusal(value, wall_time, self.max_ahead)
        if why is not None:
            return self._refuse(f"{value} ({tick_date(value)})", why)
        return value

    def save(self, value: int) -> None:
        """Durably replace the saved reservation with `value`."""
        replace_durably(self.path, f"{value}\n")

    def status(self) -> dict[str, int]:
        """Read-only figures for status files."""
        return {"corrupt_loads": self.corrupt_loads, "refused_loads": self.refused_loads}

    def _corrupt(self, why: str) -> int:
        self.corrupt_loads += 1
        log.error("signing timestamp file %s is %s; starting from the wall clock", self.path, why)
        return 0

    def _refuse(self, saved: str, why: str) -> int:
        self.refused_loads += 1
        log.error(
            "event=signing_timestamp_refused file=%s saved=%s: %s; starting from the wall clock",
            self.path,
            saved,
            why,
        )
        return 0
