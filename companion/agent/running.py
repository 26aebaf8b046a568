"""Commands the agent accepted and has not finished, kept on disk across restarts.

Rules:
- A command is written down when it arrives, before its ACCEPTED ACK can leave (the
  callback that hands it over runs before the transmitter does), and struck off once its
  final EVENT_ACK is sent. Whatever is still written at start was interrupted by a
  restart or a power cut: the agent answers it FAILED ("interrupted: agent restarted"),
  so its sender learns a final outcome instead of waiting on ACCEPTED forever. Nothing
  is run again: half-done flight commands are the operator's to repeat.
- One small JSON file of [sender, seq, EVENT_MSG_TYPE] triples, replaced durably. An
  unreadable file is logged and set aside, never fatal. Bounded by `MAX_RUNNING`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..durable_file import replace_durably

log = logging.getLogger(__name__)
MAX_RUNNING = 64
INTERRUPTED = "interrupted: agent restarted"

Running = tuple[int, int, int]
"""(sender node, seq, EVENT_MSG_TYPE) of one command."""


class RunningCommands:
    """The accepted, unfinished commands, on disk at `path`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._running: list[Running] = []

    @classmethod
    def interrupted(cls, path: Path) -> tuple[RunningCommands, list[Running]]:
        """An empty ledger at `path`, and what the previous run left unfinished."""
        left = _read(path)
        ledger = cls(path)
        if left:
            ledger._save()
        return ledger, left

    def started(self, command: Running) -> None:
        if command not in self._running:
            self._running = [*self._running, command][-MAX_RUNNING:]
            self._save()

    def finished(self, command: Running) -> None:
        if command in self._running:
            self._running = [c for c in self._running if c != command]
            self._save()

    def _save(self) -> None:
        if self.path is not None:
            replace_durably(self.path, json.dumps(self._running))


def _read(path: Path) -> list[Running]:
    try:
        entries = json.loads(path.read_text(encoding="ascii"))
        return [(int(src), int(seq), int(kind)) for src, seq, kind in entries]
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        problem = repr(exc)
    log.error("event=running_commands_unreadable file=%s error=%s: set aside", path, problem)
    path.replace(path.with_name(path.name + ".unreadable"))
    return []
