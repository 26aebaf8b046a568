"""bench/slow_flush.c, the slow-storage double: in a child process that preloads it, every
fsync and fdatasync is counted and takes at least the delay; without it nothing is counted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import slow_flush

CHILD = """
import json, os, sys, time
from bench import slow_flush
count = slow_flush.flush_counter()
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
os.write(fd, b"x")
before = count()
started = time.monotonic()
os.fsync(fd)
os.fdatasync(fd)
print(json.dumps({"flushes": count() - before, "seconds": time.monotonic() - started}))
"""


@pytest.mark.skipif(
    shutil.which("cc") is None, reason="no C compiler to build the double (CI installs gcc)"
)
def test_each_flush_is_counted_and_waits_the_delay(tmp_path: Path) -> None:
    found = slow_flush.run_python(["-c", CHILD, f"{tmp_path}/file"], delay_us=50_000)
    assert found["flushes"] == 2
    assert found["seconds"] >= 2 * 0.050


def test_without_the_double_no_counter() -> None:
    assert slow_flush.flush_counter() is None


def test_a_double_the_loader_refuses_is_said_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_library = tmp_path / "libslowflush.so"
    not_a_library.write_bytes(b"")
    monkeypatch.setattr(slow_flush, "build", lambda directory: not_a_library)
    with pytest.raises(slow_flush.SlowFlushUnavailable, match="did not preload"):
        slow_flush.run_python(["-c", "print('{}')"], delay_us=0)
