"""Nothing is lost across restarts (issue 16): the real daemons, restarted with SIGTERM and
SIGKILL at random moments while detections flow and commands run, their wall clocks
minutes apart and one of them jumping; at the end every detection the detectors handed
over is at the command center exactly once, and every command has a final outcome.

    .venv/bin/python -m pytest tests/soak                            # the default run
    EVENT_SOAK_RESTARTS=200 .venv/bin/python -m pytest tests/soak    # the longer mode
    EVENT_SOAK_SEED=17 .venv/bin/python -m pytest tests/soak         # another schedule

Rules:
- Processes as an operator runs them (`tests/soak/swarm.py`): the world (air and vehicle
  doubles), the reference command center, one ground station, two agents. Clocks (by
  libfaketime): ground station -3 min, agent-1 +5 min, agent-2 -7 min; agent-1's clock also
  jumps back and forth by 2-9 min every 8-20 s while it runs. The command center is the
  cloud's real time.
- Restarts: RESTARTS with SIGTERM and RESTARTS with SIGKILL for each daemon (the ground
  station and each agent), in a seeded random order, each after a random time up; a
  quarter of them back to back (again as soon as it is up).
- Detections: each agent's detector makes one every PACE s and resends it until the
  agent says stored (`tests/soak/detector.py`). Commands: a parameter update or a retask
  (which fails on the ground: a final outcome too) every 8-14 s through the API.
- Every wait is on a condition with a generous limit; a missed limit is reported with
  the figures, not hidden. Figures are printed in the run's summary.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from companion.reliability.priority import TTL, Priority
from sitl import faketime
from tests.soak.detector import Detector, Key
from tests.soak.swarm import HOMES, Daemon, Swarm, open_swarm, until

RESTARTS = int(os.environ.get("EVENT_SOAK_RESTARTS", "20"))
"""Restarts of each daemon (each agent, the ground station) with each signal."""
SEED = int(os.environ.get("EVENT_SOAK_SEED", "16"))
OFFSETS = {"ground-station": -180.0, "agent-1": 300.0, "agent-2": -420.0}
JUMPING = "agent-1"
PACE = 0.5
BACK_TO_BACK = 0.25
OPEN = {"queued", "delivered", "accepted", "missing"}
"""Command statuses that are not an outcome ("missing": not even queued)."""
OUTCOME_WAIT = TTL[Priority.MEDIUM] + 60.0
"""A command undelivered at the end expires after its time to live: MEDIUM for a
parameter update."""
LIMIT = 1200 + 30 * RESTARTS
"""Seconds the whole run may take (the default one needs three to four minutes)."""

Plan = list[tuple[signal.Signals, float]]


def restart_plan(rng: random.Random) -> Plan:
    """One daemon's restarts in turn: (signal, seconds up before it)."""
    signals = [signal.SIGTERM] * RESTARTS + [signal.SIGKILL] * RESTARTS
    rng.shuffle(signals)
    return [(s, 0.0 if rng.random() < BACK_TO_BACK else rng.uniform(0.3, 3.0)) for s in signals]


async def restarting(swarm: Swarm, nursery: trio.Nursery, daemon: Daemon, plan: Plan) -> None:
    for signum, up in plan:
        await trio.sleep(up)
        await swarm.restart(nursery, daemon, signum)


async def jumping(daemon: Daemon, rng: random.Random, jumps: list[tuple[float, float]]) -> None:
    """Jump the daemon's wall clock back, then forward, ... by 2-9 min around its offset."""
    base, sign = daemon.clock.offset, -1
    while True:
        await trio.sleep(rng.uniform(8.0, 20.0))
        to = base + sign * 60.0 * rng.uniform(2.0, 9.0)
        jumps.append((daemon.clock.offset, to))
        daemon.clock.set(to)
        sign = -sign


async def operating(swarm: Swarm, rng: random.Random, commands: dict[str, Any]) -> None:
    """Queue a command every 8-14 s: parameter updates, and every fourth a retask."""
    uavs = sorted(HOMES)
    for i in itertools.count():
        await trio.sleep(rng.uniform(8.0, 14.0))
        uav = uavs[i % len(uavs)]
        body: dict[str, Any] = {"command_id": f"soak-{i}", "uav": uav}
        if i % 4 == 2:
            lat, lon = HOMES[uav]
            body |= {"type": "retask", "params": {"lat": lat, "lon": lon, "alt": 20.0}}
        else:
            body |= {"type": "param_update", "params": {"name": "WPNAV_SPEED", "value": 500 + i}}
        with trio.CancelScope(shield=True):  # the end of the restarts lets it finish
            await swarm.queue(body)
        commands[body["command_id"]] = body


def at_center(records: list[dict[str, Any]]) -> Counter[Key]:
    """How often each detection (UAV, time in ms, track_id) is at the command center."""
    return Counter(
        (int(r["source"].removeprefix("uav-")), r["payload"]["time"], r["payload"]["track_id"])
        for r in records
    )


def log_events(swarm: Swarm) -> dict[str, Counter[str]]:
    """Per daemon: its warnings and errors by event name, and tracebacks."""
    found = {}
    for name, daemon in swarm.daemons.items():
        events: Counter[str] = Counter()
        for line in daemon.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Traceback"):
                events["Traceback"] += 1
            level = re.search(r"level=(WARNING|ERROR)\b.*?\bevent=(\S+)", line)
            if level:
                events[f"{level[1].lower()} {level[2]}"] += 1
        found[name] = events
    return found


def executed(swarm: Swarm, command: dict[str, Any]) -> list[str]:
    """The agent's log lines of a parameter update's outcome (its value names it)."""
    if command["type"] != "param_update":
        return []
    params = command["params"]
    named = f"reason='{params['name']}={params['value']:g}'"
    log = swarm.daemons[f"agent-{command['uav']}"].log.read_text(encoding="utf-8")
    return [line for line in log.splitlines() if "event=command " in line and named in line]


@dataclass
class Outcome:
    """What the run did and what the command center holds at its end."""

    detectors: list[Detector]
    at_center: Counter[Key]
    late: int
    commands: dict[str, Any]
    """Command id -> the command as queued."""
    statuses: dict[str, str]
    jumps: list[tuple[float, float]]
    back_to_back: int
    problems: dict[str, list[str]]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def made(self) -> set[Key]:
        return {key for d in self.detectors for key in d.lines}

    @property
    def stored(self) -> set[Key]:
        return {key for d in self.detectors for key in d.stored}

    @property
    def missing(self) -> list[Key]:
        return sorted(self.stored - self.at_center.keys())

    @property
    def duplicated(self) -> dict[Key, int]:
        return {key: n for key, n in self.at_center.items() if n > 1}

    @property
    def unknown(self) -> list[Key]:
        return sorted(self.at_center.keys() - self.made)

    @property
    def unfinished(self) -> dict[str, str]:
        found = {c: self.statuses.get(c, "missing") for c in self.commands}
        return {c: status for c, status in found.items() if status in OPEN}

    def around(self, swarm: Swarm, key: Key) -> str:
        """What the daemons went through within 5 s of `key` being stored."""
        at = next(d.stored[key] for d in self.detectors if key in d.stored)
        near = sorted(
            (t - at, f"{name} {what}")
            for name, daemon in swarm.daemons.items()
            for t, what in daemon.events
            if abs(t - at) <= 5.0
        )
        return ", ".join(f"{what} {dt:+.1f} s" for dt, what in near) or "no restart"

    def lines(self, swarm: Swarm) -> list[str]:
        counters = sum((d.counters for d in self.detectors), Counter[str]())
        outcomes = Counter(self.statuses.get(c, "missing") for c in self.commands)
        return [
            f"restart soak: seed {SEED}, {RESTARTS} restarts per daemon and signal",
            *(f"  restarts, {name}: {dict(d.departures)}" for name, d in swarm.daemons.items()),
            f"  back to back (again as soon as up): {self.back_to_back}",
            f"  clock jumps of {JUMPING} (offset s): "
            + ", ".join(f"{a:+.0f}->{b:+.0f}" for a, b in self.jumps),
            f"  detections: made {len(self.made)}, stored {len(self.stored)}"
            f" (resent {counters['resent']}, stored again {counters['stored_again']}),"
            f" at the command center {len(self.at_center)}"
            f" (live {sum(self.at_center.values()) - self.late}, late {self.late})",
            f"  missing {len(self.missing)}, duplicated {len(self.duplicated)},"
            f" never sent {len(self.unknown)}",
            *(
                f"  missing {key}; within 5 s of its store: {self.around(swarm, key)}"
                for key in self.missing[:8]
            ),
            f"  commands: {len(self.commands)}, outcomes {dict(outcomes)}",
            *(
                f"  {c} {status}, its agent logged: {executed(swarm, self.commands[c])}"
                for c, status in self.unfinished.items()
            ),
            f"  problems: {self.problems}",
            *(
                f"  log, {name}: {dict(events.most_common(8))}"
                for name, events in log_events(swarm).items()
            ),
            "  seconds (drain figures from the last restart): "
            + ", ".join(f"{k} {v:.0f}" for k, v in self.seconds.items()),
        ]


async def test_nothing_is_lost_across_restarts(tmp_path: Path, report: Any) -> None:
    library = faketime.library()
    if library is None:
        reason = "libfaketime is not installed (Debian: apt-get install libfaketime)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; .ci/run installs it")
        pytest.skip(reason)
    wrong = faketime.probe(library, tmp_path)
    assert not wrong, f"libfaketime does not set a child's clock apart: {wrong}"
    started = time.monotonic()
    with trio.fail_after(LIMIT):
        async with open_swarm(tmp_path, OFFSETS, library, SEED) as (swarm, nursery):
            outcome = await soak(swarm, nursery, random.Random(SEED))
            lines = outcome.lines(swarm)
    lines[-1] += f", in all {time.monotonic() - started:.0f}"
    for line in lines:
        report(line)
    assert not any(d.pending for d in outcome.detectors), "each made detection was stored"
    assert outcome.missing == []
    assert outcome.duplicated == {}
    assert outcome.unknown == []
    assert outcome.unfinished == {}, "commands without a final outcome at the command center"
    assert outcome.problems == {}


async def soak(swarm: Swarm, nursery: trio.Nursery, rng: random.Random) -> Outcome:
    """Warm up, restart by the plans while detections and commands flow, then drain."""
    detectors = [
        Detector(uav, swarm.detector_ports[uav], swarm.daemons[f"agent-{uav}"].clock, PACE)
        for uav in sorted(HOMES)
    ]
    for detector in detectors:
        nursery.start_soon(detector.run)
    seconds: dict[str, float] = {}
    mark = time.monotonic()

    async def from_each_uav() -> bool:
        return {key[0] for key in at_center(await swarm.detections())} == set(HOMES)

    if not await until(from_each_uav, 120.0, every=1.0):
        tails = {name: daemon.tail(8) for name, daemon in swarm.daemons.items()}
        pytest.fail(f"before any restart, a UAV's detections did not reach the cloud: {tails}")
    seconds["warm-up"], mark = time.monotonic() - mark, time.monotonic()
    jumps: list[tuple[float, float]] = []
    commands: dict[str, Any] = {}
    agents = [name for name in swarm.daemons if name.startswith("agent-")]
    plans = {name: restart_plan(rng) for name in ["ground-station", *agents]}
    async with trio.open_nursery() as background:
        background.start_soon(jumping, swarm.daemons[JUMPING], rng, jumps)
        background.start_soon(operating, swarm, rng, commands)
        async with trio.open_nursery() as restarts:
            for name, plan in plans.items():
                restarts.start_soon(restarting, swarm, nursery, swarm.daemons[name], plan)
        background.cancel_scope.cancel()
    seconds["restarts"], mark = time.monotonic() - mark, time.monotonic()
    for detector in detectors:
        detector.producing = False
    await until(lambda: not any(d.pending for d in detectors), 120.0)
    seconds["all handed over"] = time.monotonic() - mark
    stored = {key for d in detectors for key in d.stored}

    async def all_at_center() -> bool:
        return stored <= at_center(await swarm.detections()).keys()

    await until(all_at_center, 600.0, every=1.0)
    seconds["all at the cloud"] = time.monotonic() - mark
    await until(lambda: set(swarm.command_statuses().values()).isdisjoint(OPEN), OUTCOME_WAIT)
    seconds["commands final"] = time.monotonic() - mark
    records = await swarm.detections()
    return Outcome(
        detectors=detectors,
        at_center=at_center(records),
        late=sum(1 for r in records if r["payload"].get("late")),
        commands=commands,
        statuses=swarm.command_statuses(),
        jumps=jumps,
        back_to_back=sum(up == 0.0 for plan in plans.values() for _, up in plan),
        problems=swarm.problems(),
        seconds=seconds,
    )
