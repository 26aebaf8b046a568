"""The link-level demo (`python -m sitl.link_demo`) succeeds as a real process."""

from __future__ import annotations

import subprocess
import sys


def test_link_demo_runs_and_refuses_forgeries() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sitl.link_demo", "--timeout", "60"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo: OK" in done.stdout
    assert "EVENT_DETECTION" in done.stdout
    assert "refused: bad_signature=1, replay=1" in done.stdout
