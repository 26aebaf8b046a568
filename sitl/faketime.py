"""A node's wall clock set apart from the others': libfaketime preloaded into its process.

    clock = NodeClock(run / "clock-3", offset=300.0)   # node 3's wall clock 5 min ahead
    env = clock.environment(library)                    # the child process's extra variables
    clock.set(-240.0)                                   # jump it while the process runs

Rules:
- Debian's libfaketime (package `libfaketime`) is preloaded (LD_PRELOAD). It reads the
  offset from FAKETIME_TIMESTAMP_FILE ("+300", "-240": seconds) on every call
  (FAKETIME_NO_CACHE=1), so rewriting the file jumps the clock of a running process. The
  file is replaced by a rename, so the library never reads it half written.
- Only the wall clock moves: FAKETIME_DONT_FAKE_MONOTONIC=1 leaves CLOCK_MONOTONIC real,
  as on a machine whose wall clock is wrong (trio's deadlines run on the monotonic one).
  FAKETIME_FORCE_MONOTONIC_FIX=0 leaves timed waits on the monotonic clock alone: with
  libfaketime's "fix" for them, every thread handoff of Python's GIL waits out its 5 ms
  interval, and a trio-to-thread round trip took 15-30x longer (5 ms instead of 0.3 ms),
  slowing the daemons' outboxes so much that they were no longer the programs under test.
  One wart remains (libfaketime 0.9.10): `time.sleep` fails with EINVAL (an absolute
  monotonic clock_nanosleep mangled). The daemons sleep only through trio (epoll), and a
  daemon that died of it would be seen exiting by itself.
- `library()` finds the library where Debian puts it (x86_64, aarch64), else in dpkg's
  file list of the package; `probe()` checks in a child that it really moves the wall
  clock and nothing else (a loader may refuse a preload with only a warning).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

KNOWN = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
)
PROBE_OFFSET = 3600.0


def library() -> Path | None:
    """libfaketime.so.1, or None if it is not installed."""
    for known in KNOWN:
        if Path(known).is_file():
            return Path(known)
    try:
        files = subprocess.run(
            ["dpkg", "-L", "libfaketime"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:  # no dpkg: not a Debian system
        return None
    found = [Path(f) for f in files.splitlines() if f.endswith("/libfaketime.so.1")]
    return next((f for f in found if f.is_file()), None)


class NodeClock:
    """One process's wall-clock offset, in seconds, kept in its timestamp file."""

    def __init__(self, path: Path, offset: float = 0.0) -> None:
        self.path = path
        self.offset = 0.0
        self.set(offset)

    def set(self, offset: float) -> None:
        """Move the clock to `offset` seconds from the real time, at once."""
        spare = self.path.with_name(self.path.name + ".new")
        spare.write_text(f"{offset:+.3f}\n", encoding="ascii")
        spare.replace(self.path)
        self.offset = offset

    def now(self) -> float:
        """What the clock's process reads as the wall time now."""
        return time.time() + self.offset

    def environment(self, lib: Path) -> dict[str, str]:
        """The variables that put a child process on this clock."""
        preload = " ".join(p for p in (str(lib), os.environ.get("LD_PRELOAD", "")) if p)
        return {
            "LD_PRELOAD": preload,
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_FORCE_MONOTONIC_FIX": "0",
        }


def probe(lib: Path, where: Path) -> str:
    """Empty if a child under `lib` sees the wall clock offset and the monotonic clock
    real; otherwise what it saw."""
    clock = NodeClock(where / "faketime-probe", PROBE_OFFSET)
    script = "import json, time; print(json.dumps([time.time(), time.monotonic()]))"
    before = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **clock.environment(lib)},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.time()
    after = time.monotonic()
    try:
        seen_wall, seen_monotonic = json.loads(done.stdout)
    except ValueError:
        return f"the probe printed {done.stdout!r}, {done.stderr.strip()!r}"
    offset = seen_wall - wall
    if abs(offset - PROBE_OFFSET) > after - before + 1.0 or not before <= seen_monotonic <= after:
        return f"offset {offset:.1f} s (wanted {PROBE_OFFSET:.0f}), monotonic {seen_monotonic}"
    return ""
