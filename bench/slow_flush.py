"""Slow storage for a benchmark: a child process whose every flush waits longer.

The outbox is built for the storage of a small board: an SD card, whose flush takes
milliseconds where this machine's virtual disk takes a tenth of one. `run_python` runs
Python in a child process with the double of slow_flush.c preloaded (LD_PRELOAD):
each fsync and fdatasync in the child, SQLite's included, does the real flush and then
waits `delay_us` more, one flush at a time as on one device. `flush_counter` reads how
many flushes the child has made, so a bench can also print flushes per message.

Rules:
- The double needs a C compiler (`cc`) and Linux's dynamic loader; without them
  `SlowFlushUnavailable` says which is missing, and the bench prints that instead of rows.
- Only flushes are changed: both sides of a comparison run in the same child, on the
  same files, with the same delay.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("slow_flush.c")
DELAY_ENV = "BENCH_FLUSH_DELAY_US"


class SlowFlushUnavailable(RuntimeError):
    """The slow-flush double cannot be built or loaded on this machine."""


def build(directory: Path) -> Path:
    """Compile slow_flush.c into a shared library in `directory`; its path."""
    compiler = shutil.which("cc")
    if compiler is None or not sys.platform.startswith("linux"):
        raise SlowFlushUnavailable("the slow-flush double needs Linux and a C compiler (cc)")
    library = directory / "libslowflush.so"
    done = subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(SOURCE), "-ldl"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SlowFlushUnavailable(f"cc could not build {SOURCE.name}: {done.stderr.strip()}")
    return library


PROBE = (
    "import json; from bench import slow_flush;"
    " print(json.dumps({'loaded': slow_flush.flush_counter() is not None}))"
)
"""A child that says whether the double is loaded in it."""


def run_python(args: Sequence[str], delay_us: int) -> dict[str, Any]:
    """Run `python *args` from the project root with every flush `delay_us` slower; the
    JSON object it prints on its last line of standard output. Raises
    SlowFlushUnavailable when the double cannot be built or the loader refuses it."""
    with tempfile.TemporaryDirectory(prefix="bench-slow-flush-") as directory:
        env = {**os.environ, "LD_PRELOAD": str(build(Path(directory))), DELAY_ENV: str(delay_us)}
        if not _run(["-c", PROBE], env)["loaded"]:
            raise SlowFlushUnavailable("the dynamic loader did not preload the double")
        return _run(args, env)


def _run(args: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python {args[0]} ... under slow flushes failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def flush_counter() -> Callable[[], int] | None:
    """The running process's flush count, when the double is preloaded; else None."""
    try:
        counted = ctypes.CDLL(None).bench_flushes
    except AttributeError:
        return None
    counted.restype = ctypes.c_ulong
    counted.argtypes = []
    return lambda: int(counted())
