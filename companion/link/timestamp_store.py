"""The signing clock's reservation on disk, so timestamps never repeat across restarts.

One small file holding a decimal integer. Writes go to a temporary file that is fsynced
and renamed over the old one, then the directory is fsynced: after a power cut the file
holds either the old or the new reservation, never a torn one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import trio

from .signing import SigningClock

log = logging.getLogger(__name__)


class TimestampStore:
    """Load and save a `SigningClock` reservation at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.corrupt_loads = 0

    def load(self) -> int:
        """The saved reservation; 0 if there is none or it is unreadable (logged, counted).

        Falling back to 0 is safe for the fleet: receivers still reject anything not newer
        than what they saw from us, so the worst case is that our first frames are refused
        until the clock passes them.
        """
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as exc:
            return self._corrupt(f"unreadable: {exc}")
        if not text.isdigit():
            return self._corrupt("not a decimal integer")
        return int(text)

    def save(self, value: int) -> None:
        """Durably replace the saved reservation with `value`."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{value}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _corrupt(self, why: str) -> int:
        self.corrupt_loads += 1
        log.error("signing timestamp file %s is %s; starting from the wall clock", self.path, why)
        return 0


async def save_reservation(clock: SigningClock, store: TimestampStore | None) -> None:
    """Save what `clock` needs saved before its last frame may leave (in a worker thread:
    an fsync on an SD card can take a while), then let the clock know."""
    pending = clock.pending_reservation
    if pending is None:
        return
    if store is not None:
        await trio.to_thread.run_sync(store.save, pending)
    clock.confirm_reservation(pending)
