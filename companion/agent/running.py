"""Commands the agent accepted and has not finished, and final outcomes it is still
repeating, kept on disk across restarts.

Rules:
- A command is written down when it arrives, before its ACCEPTED ACK can leave (the
  callback that hands it over runs before the transmitter does), and struck off once its
  final EVENT_ACK is sent. Whatever is still written at start was interrupted by a
  restart or a power cut: the agent answers it FAILED ("interrupted: agent restarted"),
  so its sender learns a final outcome instead of waiting on ACCEPTED forever. Nothing
  is run again: half-done flight commands are the operator's to repeat.
- A final outcome travels in an EVENT_ACK, which nothing acknowledges: it is sent when
  the command ends and again with the status reports numbered `REPEAT_AT` after that
  (from disk after a restart): every report at first, then further and further apart,
  for about seven minutes at the default status interval. A ground station that was
  restarting again and again, or out of reach for minutes, still hears it. Repeats are
  idempotent for the ground station (one cloud record per outcome).
- One small JSON file, replaced durably: {"running": [[sender, seq, EVENT_MSG_TYPE]],
  "outcomes": [[sender, seq, EVENT_MSG_TYPE, outcome, reason, status reports since]]}. An
  unreadable file is logged and set aside, never fatal. Bounded by `MAX_RUNNING` each.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..durable_file import replace_durably

log = logging.getLogger(__name__)
MAX_RUNNING = 64
REPEAT_AT = frozenset({1, 2, 3, 4, 6, 9, 13, 19, 28, 42})
"""The status reports after a command ended that repeat its final outcome."""
INTERRUPTED = "interrupted: agent restarted"

Running = tuple[int, int, int]
"""(sender node, seq, EVENT_MSG_TYPE) of one command."""
Outcome = tuple[int, int, int, int, str, int]
"""(sender node, seq, EVENT_MSG_TYPE, EVENT_OUTCOME, reason, status reports since it ended)."""


class RunningCommands:
    """The accepted, unfinished commands and the outcomes to repeat, on disk at `path`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._running: list[Running] = []
        self.outcomes: list[Outcome] = []

    @classmethod
    def interrupted(cls, path: Path) -> tuple[RunningCommands, list[Running]]:
        """The ledger at `path` with its outcomes still to repeat, and the commands the
        previous run left unfinished (taken off the ledger: the caller answers them)."""
        running, outcomes = _read(path)
        ledger = cls(path)
        ledger.outcomes = outcomes
        return ledger, running

    def started(self, command: Running) -> None:
        if command not in self._running:
            self._running = [*self._running, command][-MAX_RUNNING:]
            self._save()

    def finished(self, command: Running, outcome: int, reason: str) -> None:
        """The command ended with `outcome` (its EVENT_ACK just went): repeat it later."""
        self._running = [c for c in self._running if c != command]
        self.outcomes = [*self.outcomes, (*command, outcome, reason, 0)][-MAX_RUNNING:]
        self._save()

    def repeat(self) -> list[Outcome]:
        """A status report goes now: the outcomes to send again with it (`REPEAT_AT`)."""
        if not self.outcomes:
            return []
        counted = [(*o[:5], o[5] + 1) for o in self.outcomes]
        self.outcomes = [o for o in counted if o[5] < max(REPEAT_AT)]
        self._save()
        return [o for o in counted if o[5] in REPEAT_AT]

    def _save(self) -> None:
        if self.path is not None:
            state = {"running": self._running, "outcomes": self.outcomes}
            replace_durably(self.path, json.dumps(state))


def _read(path: Path) -> tuple[list[Running], list[Outcome]]:
    try:
        state = json.loads(path.read_text(encoding="ascii"))
        running = [(int(a), int(b), int(c)) for a, b, c in state["running"]]
        outcomes = [
            (int(a), int(b), int(c), int(d), str(e), int(f))
            for a, b, c, d, e, f in state["outcomes"]
        ]
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        problem = repr(exc)
    else:
        return running, outcomes
    log.error("event=running_commands_unreadable file=%s error=%s: set aside", path, problem)
    path.replace(path.with_name(path.name + ".unreadable"))
    return [], []
