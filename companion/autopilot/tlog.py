"""Telemetry log (.tlog) of the flight-controller link, as MAVProxy writes it.

Format: each MAVLink frame exactly as it went over the wire, preceded by the time it
was sent or received as 8 bytes: microseconds since the Unix epoch, unsigned, big
endian (MAVProxy's `struct.pack('>Q', ...)`). MAVExplorer, Mission Planner and
pymavlink's `mavutil.mavlink_connection(path)` read it.

Rules:
- Both directions go in, in the order they happened: what we sent and what we received.
- Writes are buffered and flushed at least every `flush_interval` seconds of wall time
  and on close, so a crash loses at most that much. They are small writes to the page
  cache, done inline by the driver (a worker thread would cost more than the write).
- The file is appended to: an agent restart continues the same log, and pymavlink reads
  concatenated logs as one.
"""

from __future__ import annotations

import struct
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

_STAMP = struct.Struct(">Q")


class TlogWriter:
    """Appends timestamped frames to a .tlog file."""

    def __init__(self, path: str | Path, *, flush_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.frames = 0
        self._file: BinaryIO = self.path.open("ab")
        self._last_flush: float | None = None

    def record(self, frame: bytes, wall_time: float) -> None:
        """Log one frame sent or received at `wall_time` (Unix seconds)."""
        self._file.write(_STAMP.pack(int(wall_time * 1e6)) + frame)
        self.frames += 1
        if self._last_flush is None or wall_time - self._last_flush >= self.flush_interval:
            self._file.flush()
            self._last_flush = wall_time

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TlogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
