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
  the command ends and again with the first status report after each of the times in
  `REPEAT_AFTER` (seconds since it ended, on the node clock, so restarts and their
  downtime count): often at first, then further and further apart, for 15 minutes. A
  ground station that was restarting again and again, or out of reach for minutes,
  still hears it, whatever the status interval. Repeats are idempotent for the ground
  station (one cloud record per outcome). While an outcome is being repeated, the status
  reports also name it, in turn with the others (`next_named`): EVENT_STATUS is a second
  way to the ground station.
- One small JSON file, replaced durably: {"running": [[sender, seq, EVENT_MSG_TYPE]],
  "outcomes": [[sender, seq, EVENT_MSG_TYPE, outcome, reason, ended at, repeats done]]}. An
  unreadable file is logged and set aside, never fatal. Bounded by `MAX_RUNNING` each.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..durable_file import replace_durably

log = logging.getLogger(__name__)
MAX_RUNNING = 64
REPEAT_AFTER = (1.0, 3.0, 7.0, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 900.0)
"""Seconds after a command ended when its final outcome is due again (with the next
status report)."""
INTERRUPTED = "interrupted: agent restarted"

Running = tuple[int, int, int]
"""(sender node, seq, EVENT_MSG_TYPE) of one command."""
Outcome = tuple[int, int, int, int, str, float, int]
"""(sender node, seq, EVENT_MSG_TYPE, EVENT_OUTCOME, reason, when it ended on the node
clock, repeats done)."""


class RunningCommands:
    """The accepted, unfinished commands and the outcomes to repeat, on disk at `path`."""

    def __init__(self, clock: Callable[[], float], path: Path | None = None) -> None:
        self.clock = clock
        """The node clock (`node_clock.py`): steady across restarts."""
        self.path = path
        self._running: list[Running] = []
        self.outcomes: list[Outcome] = []
        self._turn = -1

    @classmethod
    def interrupted(
        cls, path: Path, clock: Callable[[], float]
    ) -> tuple[RunningCommands, list[Running]]:
        """The ledger at `path` with its outcomes still to repeat, and the commands the
        previous run left unfinished (taken off the ledger: the caller answers them)."""
        running, outcomes = _read(path)
        ledger = cls(clock, path)
        ledger.outcomes = outcomes
        return ledger, running

    def started(self, command: Running) -> None:
        if command not in self._running:
            self._running = [*self._running, command][-MAX_RUNNING:]
            self._save()

    def finished(self, command: Running, outcome: int, reason: str) -> None:
        """The command ended with `outcome` (its EVENT_ACK just went): repeat it later."""
        self._running = [c for c in self._running if c != command]
        ended = (*command, outcome, reason, self.clock(), 0)
        self.outcomes = [*self.outcomes, ended][-MAX_RUNNING:]
        self._save()

    def next_named(self) -> Outcome | None:
        """The outcome still being repeated whose turn it is to be named in a status report
        (each in turn), or None."""
        if not self.outcomes:
            return None
        self._turn = (self._turn + 1) % len(self.outcomes)
        return self.outcomes[self._turn]

    def repeat(self) -> list[Outcome]:
        """A status report goes now: the outcomes due again (`REPEAT_AFTER`)."""
        now = self.clock()
        due, kept = [], []
        for outcome in self.outcomes:
            since, done = now - outcome[5], outcome[6]
            if since >= REPEAT_AFTER[done]:
                due.append(outcome)
                done = sum(1 for after in REPEAT_AFTER if after <= since)
            if done < len(REPEAT_AFTER):
                kept.append((*outcome[:6], done))
        if due:
            self.outcomes = kept
            self._save()
        return due

    def _save(self) -> None:
        if self.path is not None:
            state = {"running": self._running, "outcomes": self.outcomes}
            replace_durably(self.path, json.dumps(state))


def _read(path: Path) -> tuple[list[Running], list[Outcome]]:
    try:
        state = json.loads(path.read_text(encoding="ascii"))
        running = [(int(a), int(b), int(c)) for a, b, c in state["running"]]
        outcomes = [
            (int(a), int(b), int(c), int(d), str(e), float(f), _repeats_done(g))
            for a, b, c, d, e, f, g in state["outcomes"]
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


def _repeats_done(value: Any) -> int:
    """A stored count of repeats done; ValueError if no outcome could have it."""
    done = int(value)
    if not 0 <= done < len(REPEAT_AFTER):
        raise ValueError(f"repeats done {done} is outside 0..{len(REPEAT_AFTER) - 1}")
    return done
