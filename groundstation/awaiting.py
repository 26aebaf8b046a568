"""Commands waiting for their final outcome, kept on disk so a restart forgets none.

Rules:
- A command is entered when it is stored for its UAV, and each hand-over to the radio
  adds the (UAV, seq) it went under. Its final outcome (anything but ACCEPTED) is
  written down when it is known (`ending`), and the command leaves once that outcome's
  cloud record is committed (`final`): a restart in between reports it again (`ended`),
  so an outcome nobody will repeat (an expiry, decided here) is never lost. Until then
  an ACK or a UAV's status naming one of its (UAV, seq) is matched to it, by this run
  or any later one: the UAV may answer after the ground station restarted (the radio
  outbox let go of the command at ACCEPTED).
- One small JSON file, replaced durably (`companion/durable_file.py`) on every change:
  commands are few, and a change is written before its frame can leave.
- Bounded: at `MAX_COMMANDS` the oldest entry is dropped, counted and logged; a file
  that cannot be read is logged and set aside, never fatal.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

from companion.durable_file import replace_durably

log = logging.getLogger("event.groundstation")
MAX_COMMANDS = 4096


Ending = tuple[int, str]
"""A final outcome known and not yet committed to the uplink: (EVENT_OUTCOME, reason)."""


class AwaitingOutcomes:
    """command id -> (UAV, every (UAV, seq) it was handed over as, its final outcome if
    known but not yet committed)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.counters: Counter[str] = Counter()
        self._uav: OrderedDict[str, int] = OrderedDict()
        self._handed: dict[str, list[tuple[int, int]]] = {}
        self._by_seq: dict[tuple[int, int], str] = {}
        self._ending: dict[str, Ending] = {}

    @classmethod
    def load(cls, path: Path) -> AwaitingOutcomes:
        """The ledger saved at `path` (empty if there is none or it is unreadable)."""
        ledger = cls(path)
        try:
            entries = _parse(path.read_text(encoding="ascii"))
        except FileNotFoundError:
            return ledger
        except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
            problem = repr(exc)
        else:
            for command_id, uav, handed, ending in entries:
                ledger._enter(command_id, uav)
                for dst, seq in handed:
                    ledger._hand(command_id, dst, seq)
                if ending is not None:
                    ledger._ending[command_id] = ending
            return ledger
        ledger.counters["unreadable"] += 1
        log.error("event=awaiting_unreadable file=%s error=%s: set aside", path, problem)
        path.replace(path.with_name(path.name + ".unreadable"))
        return ledger

    def __contains__(self, command_id: str) -> bool:
        return command_id in self._uav

    def __len__(self) -> int:
        return len(self._uav)

    def uav(self, command_id: str) -> int | None:
        return self._uav.get(command_id)

    def command_of(self, uav: int, seq: int) -> str | None:
        """The command handed over to `uav` as `seq`, if it still awaits its outcome."""
        return self._by_seq.get((uav, seq))

    def stored(self, command_id: str, uav: int) -> None:
        """A command was stored for `uav`: it awaits its outcome."""
        if command_id not in self._uav:
            self._enter(command_id, uav)
            self._save()

    def handed(self, command_id: str, uav: int, seq: int) -> None:
        """It went to the radio as (`uav`, `seq`)."""
        if command_id in self._uav:
            self._hand(command_id, uav, seq)
            self._save()

    def ending(self, command_id: str, outcome: int, reason: str) -> None:
        """Its final outcome is known; its record is on the way to the uplink."""
        if command_id in self._uav and self._ending.get(command_id) != (outcome, reason):
            self._ending[command_id] = (outcome, reason)
            self._save()

    def ended(self) -> list[tuple[str, int, Ending]]:
        """(command id, UAV, final outcome) of every command whose final outcome was known
        and not committed: a restart reports them again."""
        return [(c, self._uav[c], ending) for c, ending in self._ending.items()]

    def final(self, command_id: str) -> None:
        """Its final outcome's record is committed: forget it."""
        if self._forget(command_id):
            self._save()

    def _enter(self, command_id: str, uav: int) -> None:
        self._uav[command_id] = uav
        self._handed[command_id] = []
        while len(self._uav) > MAX_COMMANDS:
            oldest = next(iter(self._uav))
            self._forget(oldest)
            self.counters["dropped_oldest"] += 1
            log.warning("event=awaiting_full dropped=%s", oldest)

    def _hand(self, command_id: str, uav: int, seq: int) -> None:
        self._handed[command_id].append((uav, seq))
        self._by_seq[(uav, seq)] = command_id

    def _forget(self, command_id: str) -> bool:
        if self._uav.pop(command_id, None) is None:
            return False
        for handed in self._handed.pop(command_id, []):
            self._by_seq.pop(handed, None)
        self._ending.pop(command_id, None)
        return True

    def _save(self) -> None:
        if self.path is None:
            return
        entries: list[Any] = [
            [command_id, uav, self._handed[command_id], self._ending.get(command_id)]
            for command_id, uav in self._uav.items()
        ]
        replace_durably(self.path, json.dumps(entries, separators=(",", ":")))


def _parse(text: str) -> list[tuple[str, int, list[tuple[int, int]], Ending | None]]:
    """The file's entries; ValueError or TypeError if it is not what `_save` writes (an
    entry without its fourth field, from an earlier version, has no final outcome)."""
    entries = []
    for command_id, uav, handed, *rest in json.loads(text):
        if not isinstance(command_id, str):
            raise TypeError(f"command id {command_id!r} is not a string")
        ending = rest[0] if rest else None
        if ending is not None:
            outcome, reason = ending
            if not isinstance(reason, str):
                raise TypeError(f"reason {reason!r} is not a string")
            ending = (int(outcome), reason)
        handed_as = [(int(dst), int(seq)) for dst, seq in handed]
        entries.append((command_id, int(uav), handed_as, ending))
    return entries
