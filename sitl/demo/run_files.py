"""A finished demo run directory, read: the world's samples, the scenario's events and what
the reference command center received (the files are described in sitl/demo/runner.py).

Rules:
- Reading never writes: a missing world.jsonl, events.jsonl or cc.db is a ReportError
  naming the file (CommandCenterStore would create an empty database, so its absence is
  checked first).
- A line that is not a JSON object, or an event without the fields its kind needs, is
  skipped and counted in `Run.skipped` by file; the rest is used.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groundstation.command_center import CommandCenterStore
from groundstation.command_center.store import QueuedCommand, StoreError
from groundstation.records import Record, RecordError

_PAGE = 1000
_NUMBER = (int, float)
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "detection_fed": {"uav": (int,), "track_id": (int,), "time": _NUMBER},
    "mission_assigned": {"uav": (int,), "command_id": (str,)},
    "retask": {"uav": (int,), "command_id": (str,), "lat": _NUMBER, "lon": _NUMBER},
    "abort": {"uav": (int,), "command_id": (str,)},
    "agent": {"uav": (int,), "status": (dict,)},
}
"""Fields each event kind must have (with their types) to be used."""

Key = tuple[int, int, int]
"""A detection: (UAV, track id, its own time in ms)."""


class ReportError(Exception):
    """The run directory cannot be reported on; the text names the file and why."""


@dataclass(frozen=True, slots=True)
class Run:
    """A run directory, read: the world, the events, the command center's contents."""

    header: dict[str, Any]
    world: list[dict[str, Any]]
    events: list[dict[str, Any]]
    records: list[tuple[Record, float]]
    """Every record at the cloud with the time it was received, in arrival order."""
    commands: list[QueuedCommand]
    skipped: dict[str, int]

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["kind"] == kind]

    @property
    def start(self) -> float:
        started = self.kind("started")
        return float(started[0]["wall"] if started else self._walls()[0])

    @property
    def end(self) -> float:
        finished = self.kind("finished")
        return float(finished[-1]["wall"] if finished else self._walls()[-1])

    def _walls(self) -> list[float]:
        walls = sorted(item["wall"] for item in [*self.world, *self.events])
        return walls or [0.0]

    def station_samples(self) -> list[tuple[float, dict[str, Any]]]:
        """The ground station's status samples: (wall, status.json)."""
        return [(event["wall"], station_status(event)) for event in self.kind("station")]

    def agent_status(self) -> dict[int, dict[str, Any]]:
        """Each UAV's last agent status sample."""
        return {event["uav"]: event["status"] for event in self.kind("agent")}

    def detections(self) -> list[tuple[Record, float]]:
        return [
            (record, received)
            for record, received in self.records
            if record.msg_type == "detection"
        ]


@dataclass(frozen=True, slots=True)
class Window:
    """The cloud outage: wall times; `ended` False if the run finished during it."""

    start: float
    end: float
    ended: bool

    def __contains__(self, wall: float) -> bool:
        return self.start <= wall <= self.end


def station_status(event: dict[str, Any]) -> dict[str, Any]:
    """A "station" event's status.json: under "status", or the event's own keys."""
    nested = event.get("status")
    return nested if isinstance(nested, dict) else event


def load_run(run: Path) -> Run:
    """Read a run directory; ReportError if a file is missing or cannot be read."""
    lines, world_skipped = _read_jsonl(run / "world.jsonl")
    if not lines or not _is_header(lines[0]):
        raise ReportError(f"{run / 'world.jsonl'} does not start with its header line")
    world = [line for line in lines[1:] if isinstance(line.get("wall"), _NUMBER)]
    events, events_skipped = _read_jsonl(run / "events.jsonl")
    usable = [event for event in events if _valid_event(event)]
    records, commands = _read_cloud(run / "cc.db")
    skipped = {
        "world.jsonl": world_skipped + len(lines) - 1 - len(world),
        "events.jsonl": events_skipped + len(events) - len(usable),
    }
    return Run(lines[0], world, usable, records, commands, skipped)


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    if not path.is_file():
        raise ReportError(f"{path} is missing")
    objects: list[dict[str, Any]] = []
    skipped = 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if isinstance(obj, dict):
                objects.append(obj)
            else:
                skipped += 1
    return objects, skipped


def _is_header(line: dict[str, Any]) -> bool:
    origin = line.get("origin")
    return (
        isinstance(origin, list)
        and len(origin) == 3
        and all(isinstance(v, _NUMBER) for v in origin)
        and isinstance(line.get("uavs"), list)
    )


def _valid_event(event: dict[str, Any]) -> bool:
    if not isinstance(event.get("wall"), _NUMBER) or not isinstance(event.get("kind"), str):
        return False
    fields = _FIELDS.get(event["kind"], {})
    return all(isinstance(event.get(name), types) for name, types in fields.items())


def _read_cloud(path: Path) -> tuple[list[tuple[Record, float]], list[QueuedCommand]]:
    if not path.is_file():  # CommandCenterStore would create an empty one
        raise ReportError(f"{path} is missing")
    try:
        store = CommandCenterStore(path)
    except StoreError as exc:
        raise ReportError(str(exc)) from exc
    try:
        records: list[tuple[Record, float]] = []
        after = 0
        while page := store.records(after=after, limit=_PAGE):
            records += [(record, received) for _, record, received in page]
            after = page[-1][0]
        commands = store.commands(limit=max(1, store.latest_cursor()))
    except (sqlite3.Error, RecordError, ValueError) as exc:
        raise ReportError(f"cannot read {path}: {exc}") from exc
    finally:
        store.close()
    return records, commands


# -- the report ---------------------------------------------------------------------------
