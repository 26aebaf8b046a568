"""SIGKILL at random points: every key the child reported committed is stored, once.

The child (crash_child.py) prints a key right after `enqueue` returned for it. The
parent kills it after a seeded random number of printed commits (1..20), reads what
else it had printed, reopens the file (integrity check included) and counts each key.
`OUTBOX_KILLS` sets the number of kills (default 50); `OUTBOX_SEED` the seed.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

from companion.outbox import Store

ROOT = Path(__file__).resolve().parents[3]
KILLS = int(os.environ.get("OUTBOX_KILLS", "50"))
SEED = int(os.environ.get("OUTBOX_SEED", "5"))
TIMEOUT = 30.0


def pump(stream: object, lines: queue.Queue[str | None]) -> None:
    """Reader thread: forward the child's stdout lines, then None at end of file."""
    assert hasattr(stream, "readline")
    for line in iter(stream.readline, ""):
        lines.put(line.strip())
    lines.put(None)


def run_and_kill(path: Path, round_id: str, after: int) -> list[str]:
    """Start a child, SIGKILL it once `after` keys are printed; every key it printed."""
    command = [sys.executable, "-m", "tests.companion.outbox.crash_child", str(path), round_id]
    lines: queue.Queue[str | None] = queue.Queue()
    printed: list[str] = []
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as child:
        reader = threading.Thread(target=pump, args=(child.stdout, lines), daemon=True)
        reader.start()
        try:
            while len(printed) < after:
                line = lines.get(timeout=TIMEOUT)
                assert line is not None, f"child exited early with {child.wait()}"
                printed.append(line)
            child.send_signal(signal.SIGKILL)
            assert child.wait(timeout=TIMEOUT) == -signal.SIGKILL
            while (line := lines.get(timeout=TIMEOUT)) is not None:
                printed.append(line)  # in the pipe before the kill: committed too
        finally:
            if child.poll() is None:
                child.kill()
            reader.join(TIMEOUT)
    return printed


def test_no_committed_key_lost_to_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    rng = random.Random(SEED)
    reported: list[str] = []
    for round_no in range(KILLS):
        reported += run_and_kill(path, f"r{round_no}", rng.randint(1, 20))
        store = Store.open(path, max_messages=1_000_000)  # integrity check on open
        rows = store._db.execute("SELECT msg_key, count(*) FROM messages GROUP BY msg_key")
        counts = dict(rows.fetchall())
        store.close()
        missing = [key for key in reported if counts.get(key) != 1]
        assert not missing, f"round {round_no}: lost {missing[:5]}"
    assert len(reported) >= KILLS
