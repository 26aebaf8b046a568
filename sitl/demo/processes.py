"""The demo's child processes: started with their logs in the run directory, stopped politely.

Rules:
- Each child's stderr (and stdout, after an optional "ready" line) goes to
  `logs/NAME.log`, appended to (a child started again under its name adds to it); the
  ready line is awaited with a limit, and a child that exits first is an error quoting
  the end of its log.
- Stopping sends SIGTERM and waits (the daemons commit their outboxes on SIGTERM); a
  child still running after the grace period is killed (`sitl.terminate`); its status
  then says so (-9).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import trio

from sitl.terminate import terminate

READY_LIMIT = 60.0
GRACE = 20.0


class ProcessError(RuntimeError):
    """A child did not start, or did not stop as asked."""


@dataclass
class Child:
    name: str
    process: trio.Process
    log_path: Path
    log: IO[bytes]
    ready_line: str = ""

    def tail(self, lines: int = 15) -> str:
        self.log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


class Children:
    """Every child of one run, stopped in reverse order of starting."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Child] = []
        logs.mkdir(parents=True, exist_ok=True)

    async def start(
        self,
        nursery: trio.Nursery,
        name: str,
        argv: list[str],
        *,
        ready: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Child:
        """Start `argv` (a Python module run as `-m`, or a command), with `env` added to
        our environment; wait for a stdout line starting with `ready` when given."""
        log_path = self.logs / f"{name}.log"
        log = log_path.open("ab")
        process = await trio.lowlevel.open_process(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if ready else log,
            stderr=log,
            start_new_session=True,
            env=None if env is None else {**os.environ, **env},
        )
        child = Child(name, process, log_path, log)
        self.started.append(child)
        if ready is not None:
            assert process.stdout is not None
            lines = LineReader(process.stdout)
            with trio.move_on_after(READY_LIMIT):
                async for line in lines:
                    log.write(line.encode() + b"\n")
                    if line.startswith(ready):
                        child.ready_line = line
                        break
            if not child.ready_line:
                raise ProcessError(f"{name} did not say {ready!r}:\n{child.tail()}")
            nursery.start_soon(_copy, lines, log)
        return child

    def exited(self) -> list[tuple[str, int]]:
        """Children that ended on their own: (name, exit status)."""
        return [
            (child.name, child.process.returncode)
            for child in self.started
            if child.process.returncode is not None
        ]

    async def stop(self) -> dict[str, int | None]:
        """SIGTERM each in reverse starting order; their exit statuses (-9: killed)."""
        for child in reversed(self.started):
            await terminate(child.process, GRACE)
        return {child.name: child.process.returncode for child in reversed(self.started)}

    def close(self) -> None:
        for child in self.started:
            if child.process.returncode is None:
                child.process.kill()
            child.log.close()


def python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


class LineReader:
    """Lines of a byte stream, as an async iterator that can be resumed after a break."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    def __aiter__(self) -> LineReader:
        return self

    async def __anext__(self) -> str:
        while b"\n" not in self._buffer:
            data = await self._stream.receive_some(4096)
            if not data:
                if self._buffer:
                    line, self._buffer = self._buffer, b""
                    return line.decode(errors="replace")
                raise StopAsyncIteration
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(errors="replace")


async def _copy(lines: LineReader, log: IO[bytes]) -> None:
    async for line in lines:
        log.write(line.encode() + b"\n")
        log.flush()
