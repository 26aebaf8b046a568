"""The restart soak's swarm: every part its own process on loopback, each daemon on its own
wall clock, and daemons restarted with SIGTERM or SIGKILL on demand.

    world process (air + one vehicle double per UAV) <-UDP/TCP-> agents, ground station
    ground station <-HTTP-> reference command center <- the test (operator, detectors)

Rules:
- Every part is the program an operator runs, started as `sitl.demo` starts it
  (`sitl.demo.processes`); each log is `logs/NAME.log`, appended across restarts.
- The ground station and each agent run under libfaketime, each with its `NodeClock`;
  the world and the command center (the cloud, NTP-synced) keep the real clock.
- A daemon is up once its log holds one more "event=started" line than before it was
  started; it has `UP_LIMIT` seconds for that, or the run fails quoting its log.
- SIGTERM: the daemon must exit with status 0 within `GRACE` seconds (`companion.daemon`);
  otherwise the departure is recorded as a problem (then it is killed). SIGKILL: -9.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio

from groundstation.command_center import CommandCenterStore
from sitl.demo.plan import ORIGIN, to_latlon
from sitl.demo.processes import Child, Children, python
from sitl.demo.runner import free_base
from sitl.faketime import NodeClock
from sitl.provisioning import FleetFiles, provision_fleet, write_agent_config, write_station_config

UP_LIMIT = 60.0
GRACE = 20.0
STARTED = b"event=started node="
HOMES = {1: to_latlon(150.0, 0.0), 2: to_latlon(-120.0, 90.0)}
"""Both UAVs within easy radio range of the ground station (and of each other)."""
PROVISIONED_BEFORE = 3600.0
"""The fleet's certificates are issued an hour before the run, as on a flight day."""


class SoakError(RuntimeError):
    """A part of the swarm did not start or did not behave as a daemon must."""


@dataclass
class Daemon:
    """One restartable daemon: its command line, its clock and its current process."""

    name: str
    argv: list[str]
    clock: NodeClock
    log: Path
    child: Child | None = None
    departures: Counter[str] = field(default_factory=Counter)
    """How each process of it ended, by the signal sent: "SIGTERM", "SIGKILL"."""
    problems: list[str] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    """(trio time, "SIGTERM", "SIGKILL" or "up"): when it was stopped and came up."""

    _read: int = 0
    _started: int = 0

    def started_lines(self) -> int:
        """How many "event=started" lines its log holds (read on from where it was)."""
        if self.log.exists():
            with self.log.open("rb") as f:
                f.seek(self._read)
                data = f.read()
            complete = data[: data.rfind(b"\n") + 1]
            self._read += len(complete)
            self._started += complete.count(STARTED)
        return self._started

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


class Swarm:
    """Build with `open_swarm`: every process started and up."""

    def __init__(self, run: Path, files: FleetFiles, children: Children, library: Path) -> None:
        self.run = run
        self.files = files
        self.children = children
        self.library = library
        self.daemons: dict[str, Daemon] = {}
        self.url = ""
        self.detector_ports: dict[int, int] = {}
        self.store: CommandCenterStore | None = None

    # -- processes -------------------------------------------------------------------------

    async def start(self, nursery: trio.Nursery, daemon: Daemon) -> None:
        """Start `daemon`'s program on its clock; return once its log says it started."""
        before = daemon.started_lines()
        daemon.child = await self.children.start(
            nursery, daemon.name, daemon.argv, env=daemon.clock.environment(self.library)
        )
        with trio.move_on_after(UP_LIMIT):
            while daemon.started_lines() <= before:
                if daemon.child.process.returncode is not None:
                    break
                await trio.sleep(0.05)
            else:
                daemon.events.append((trio.current_time(), "up"))
                return
        status = daemon.child.process.returncode
        raise SoakError(f"{daemon.name} did not start (exit status {status}):\n{daemon.tail()}")

    async def stop(self, daemon: Daemon, signum: signal.Signals) -> None:
        """End `daemon`'s process with `signum` and wait until it is gone."""
        assert daemon.child is not None
        process = daemon.child.process
        daemon.events.append((trio.current_time(), signum.name))
        if process.returncode is not None:
            daemon.problems.append(f"had exited by itself with status {process.returncode}")
        else:
            process.send_signal(signum)
            with trio.move_on_after(GRACE):
                await process.wait()
            if process.returncode is None:
                daemon.problems.append(f"still running {GRACE:.0f} s after {signum.name}")
                process.kill()
                await process.wait()
            elif signum == signal.SIGTERM and process.returncode != 0:
                daemon.problems.append(f"exit status {process.returncode} after SIGTERM")
        daemon.child.log.close()  # a long run starts hundreds: keep the files open few
        daemon.departures[signum.name] += 1

    async def restart(self, nursery: trio.Nursery, daemon: Daemon, signum: signal.Signals) -> None:
        await self.stop(daemon, signum)
        await self.start(nursery, daemon)

    def problems(self) -> dict[str, list[str]]:
        """What each daemon did that a daemon must not, a process that ended by itself
        since its last start included."""
        found = {}
        for name, daemon in self.daemons.items():
            status = None if daemon.child is None else daemon.child.process.returncode
            ended = [] if status is None else [f"had exited by itself with status {status}"]
            if daemon.problems or ended:
                found[name] = daemon.problems + ended
        return found

    # -- the operator ----------------------------------------------------------------------

    def client(self) -> httpx.AsyncClient:
        """An HTTP client of the command center with the operator's token."""
        headers = {"Authorization": f"Bearer {self.files.tokens.operator}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30.0)

    async def queue(self, body: dict[str, Any]) -> None:
        async with self.client() as client:
            response = await client.post("/api/commands", json=body)
        if response.status_code != 201:
            raise SoakError(f"command refused: {response.status_code} {response.text}")

    async def detections(self) -> list[dict[str, Any]]:
        """Every detection record at the command center, through its API."""
        found: list[dict[str, Any]] = []
        after = 0
        async with self.client() as client:
            while True:
                params: dict[str, str | int] = {
                    "msg_type": "detection",
                    "after": after,
                    "limit": 1000,
                }
                response = await client.get("/api/messages", params=params)
                response.raise_for_status()
                page = response.json()
                found += page["messages"]
                if len(page["messages"]) < 1000:
                    return found
                after = page["cursor"]

    def command_statuses(self) -> dict[str, str]:
        """Command id -> its status at the command center."""
        assert self.store is not None
        return {c.body["command_id"]: c.status for c in self.store.commands(limit=100_000)}


async def until(condition: Callable[[], Any], limit: float, every: float = 0.5) -> bool:
    """Wait until `condition()` (sync or async) is true; False if `limit` s passed first."""
    with trio.move_on_after(limit):
        while True:
            found = condition()
            if not isinstance(found, bool):
                found = await found
            if found:
                return True
            await trio.sleep(every)
    return False


@asynccontextmanager
async def open_swarm(
    run: Path, offsets: dict[str, float], library: Path, seed: int
) -> AsyncIterator[tuple[Swarm, trio.Nursery]]:
    """World, command center, ground station and one agent per UAV, each daemon on
    `offsets[name]` seconds of wall-clock offset; stopped politely on leaving."""
    uavs = tuple(HOMES)
    files = provision_fleet(run / "fleet", uavs, now=time.time() - PROVISIONED_BEFORE)
    children = Children(run / "logs")
    swarm = Swarm(run, files, children, library)
    try:
        async with trio.open_nursery() as nursery:
            try:
                await _start_all(swarm, nursery, offsets, seed)
                yield swarm, nursery
            finally:
                await children.stop()
                nursery.cancel_scope.cancel()
    finally:
        children.close()
        if swarm.store is not None:
            swarm.store.close()


async def _start_all(
    swarm: Swarm, nursery: trio.Nursery, offsets: dict[str, float], seed: int
) -> None:
    files, run, ports = swarm.files, swarm.run, random.Random()
    radio_base = free_base(256, ports)
    autopilot_base = free_base(256, ports)
    detector_base = free_base(256, ports)
    world = {
        "origin": list(ORIGIN),
        "homes": HOMES,
        "ground_station": files.ground_station,
        "radio_base": radio_base,
        "autopilot_base": autopilot_base,
        "radio": {"range_m": 2000.0, "extra_loss": 0.02},
        "seed": seed,
        "ready_after": 3.0,
    }
    (run / "world.json").write_text(json.dumps(world), encoding="utf-8")
    argv = python("sitl.demo.world_process", "--config", str(run / "world.json"))
    await swarm.children.start(
        nursery, "world", [*argv, "--out", str(run / "world.jsonl")], ready="world ready"
    )
    serve = ["serve", "--db", str(run / "cc.db"), "--port", "0"]
    center = await swarm.children.start(
        nursery,
        "command-center",
        python("groundstation.command_center", *serve, "--token-file", str(files.token_file)),
        ready="reference command center listening on",
    )
    swarm.url = center.ready_line.split()[-1]
    swarm.store = CommandCenterStore(run / "cc.db")
    write_station_config(
        files,
        radio=f"udp:127.0.0.1:{radio_base + files.ground_station}",
        uplink_url=swarm.url,
        status_interval=1.0,
        retry_max=2.0,
    )
    for node in files.uavs:
        swarm.detector_ports[node] = detector_base + node
        write_agent_config(
            files,
            node,
            radio=f"udp:127.0.0.1:{radio_base + node}",
            autopilot=f"tcp:127.0.0.1:{autopilot_base + node}",
            detector_port=detector_base + node,
            telemetry_interval=2.0,
            status_interval=1.0,
        )
    programs = {
        "ground-station": python("groundstation.cli", "--config", str(files.station_config))
    }
    for node in files.uavs:
        config = str(files.agent_config(node))
        programs[f"agent-{node}"] = python("companion.agent.cli", "--config", config)
    for name, program in programs.items():
        clock = NodeClock(run / f"clock-{name}", offsets[name])
        daemon = Daemon(name, program, clock, run / "logs" / f"{name}.log")
        swarm.daemons[name] = daemon
        await swarm.start(nursery, daemon)
