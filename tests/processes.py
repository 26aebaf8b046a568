"""Helpers for tests that run real daemon processes: free ports, waiting on a condition
with a generous limit (never a fixed sleep), reading the status file they write."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
WAIT = 120.0
"""Generous limit for anything these tests wait on (a loaded 2-core machine)."""


def free_port(kind: socket.SocketKind) -> int:
    """A loopback port of `kind` that was free a moment ago."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def until(
    condition: Callable[[], Any], what: str, limit: float = WAIT, explain: Callable[[], str] = str
) -> Any:
    """The first true value of `condition`, polled every 50 ms; fails the test naming
    `what` (and `explain()`, if given) after `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    detail = explain()
    pytest.fail(f"waited {limit:.0f} s for {what}" + (f": {detail}" if detail else ""))


def read_status(path: Path) -> dict[str, Any] | None:
    """A daemon's status.json, or None while it is absent or half written."""
    try:
        status: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return status


def start_daemon(module: str, config: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """`python -m <module> --config <config>` from the project's root, output to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", module, "--config", str(config)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )


def stop_daemon(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not ended within WAIT seconds."""
    process.terminate()
    try:
        process.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
