"""The swarm demo: every part as its own process, the default scenario played against them.

    world process (air + vehicles) <-UDP/TCP-> agent processes (one per UAV)
                                          <-UDP->     ground station process
    ground station <-HTTP-> reference command center process <- this runner (operator)

Rules:
- The runner is the operator and the onboard detectors, nothing more: it queues
  commands and injects the internet outage through the command center's HTTP API, and
  feeds detections to each agent's UDP intake when the vehicle (as the world reports it)
  passes a target. Everything else happens between the real processes.
- Everything lands in the run directory: fleet keys and configs, every process's log,
  world.jsonl, events.jsonl, cc.db, then report.json and report.png.
- Each wait has a limit; a step that times out ends the scenario early, the processes are
  still stopped politely and the report still written (it will say what was missed).
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio

from groundstation.command_center import CommandCenterStore
from sitl.provisioning import FleetFiles, provision_fleet, write_agent_config, write_station_config
from sitl.vehicle.ardupilot import free_instances, serial0_port

from .detector import Detectors
from .picture import draw
from .plan import ORIGIN, RANGE_M, Plan, make_plan, to_latlon
from .processes import Children, python
from .report import OPEN_STATUSES, report_of, summary, write_report
from .run_files import load_run
from .script import ScenarioError, play
from .view import LiveView


@dataclass(frozen=True, slots=True)
class DemoOptions:
    out: Path
    uavs: int = 4
    seed: int = 7
    quick: bool = False
    live: bool = True
    vehicles: str = "double"
    """"double" (the vehicle double) or "ardupilot" (one real SITL instance per UAV)."""
    ardupilot_dir: Path | None = None
    kinds: tuple[str, ...] = ()
    """Each UAV's vehicle kind in node order (copter, plane, rover); copter where unsaid."""

    def kind(self, node: int) -> str:
        return self.kinds[node - 1] if node <= len(self.kinds) else "copter"


class EventLog:
    """events.jsonl, and the view's recent events."""

    def __init__(self, path: Path, view: LiveView) -> None:
        self._file = path.open("a", encoding="utf-8")
        self.view = view
        self.start = time.time()

    def __call__(self, kind: str, text: str = "", **fields: Any) -> None:
        self._file.write(json.dumps({"wall": time.time(), "kind": kind, **fields}) + "\n")
        self._file.flush()
        if text:
            self.view.event(time.time() - self.start, text)

    def close(self) -> None:
        self._file.close()


class Observed:
    """The latest of what the run's processes write: world samples and status files."""

    def __init__(self, run: Path, files: FleetFiles) -> None:
        self.world_path = run / "world.jsonl"
        self.files = files
        self.world: dict[str, Any] | None = None
        self._offset = 0

    def refresh_world(self) -> None:
        with self.world_path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            sample = json.loads(line)
            if "vehicles" in sample:
                self.world = sample

    def status(self, node: int) -> dict[str, Any]:
        try:
            found: dict[str, Any] = json.loads(
                (self.files.state(node) / "status.json").read_text(encoding="utf-8")
            )
        except (OSError, ValueError):
            return {}
        return found

    def vehicle(self, node: int) -> dict[str, Any]:
        found: dict[str, Any] = (self.world or {}).get("vehicles", {}).get(str(node), {})
        return found


def free_base(span: int, rng: random.Random) -> int:
    """A port base with `span` consecutive ports free for both UDP and TCP on loopback."""
    for _ in range(100):
        base = rng.randrange(20000, 60000 - span)
        if all(_free(base + offset) for offset in range(0, span)):
            return base
    raise OSError("no free block of loopback ports")


def _free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


class Demo:
    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.run = options.out.resolve()
        self.run.mkdir(parents=True, exist_ok=True)
        self.plan: Plan = make_plan(options.uavs, options.seed, quick=options.quick)
        self.files = provision_fleet(self.run / "fleet", tuple(u.node for u in self.plan.uavs))
        self.view = LiveView() if options.live else LiveView(quiet_every=15.0)
        self.log = EventLog(self.run / "events.jsonl", self.view)
        self.children = Children(self.run / "logs")
        self.seen = Observed(self.run, self.files)
        ports = random.Random()
        self.radio_base = free_base(256, ports)
        self.autopilot_base = free_base(options.uavs + 1, ports)
        self.sitl_instances: dict[int, int] = {}
        if options.vehicles == "ardupilot":
            instances = free_instances(options.uavs, first=10)
            self.sitl_instances = {
                u.node: i for u, i in zip(self.plan.uavs, instances, strict=True)
            }
        self.detector_base = free_base(options.uavs + 1, ports)
        self.url = ""
        self.store: CommandCenterStore | None = None
        self.detectors = Detectors(self.plan, self.detector_base, self.seen.vehicle, self.log)

    # -- start -------------------------------------------------------------------------

    async def start(self, nursery: trio.Nursery) -> None:
        world = {
            "origin": list(ORIGIN),
            "homes": {u.node: to_latlon(*u.home) for u in self.plan.uavs},
            "ground_station": self.files.ground_station,
            "radio_base": self.radio_base,
            "autopilot_base": self.autopilot_base,
            "radio": {"range_m": RANGE_M, "extra_loss": 0.02},
            "seed": self.options.seed,
            "ready_after": 3.0,
            "speed": self.plan.speed,
            "autopilot": self.options.vehicles,
            "kinds": {u.node: self.options.kind(u.node) for u in self.plan.uavs},
            "ardupilot_dir": str(self.options.ardupilot_dir or "") or None,
            "sitl_instances": self.sitl_instances,
            "sitl_dir": str(self.run / "sitl"),
        }
        (self.run / "world.json").write_text(json.dumps(world), encoding="utf-8")
        await self.children.start(
            nursery,
            "world",
            python(
                "sitl.demo.world_process",
                "--config",
                str(self.run / "world.json"),
                "--out",
                str(self.run / "world.jsonl"),
            ),
            ready="world ready",
        )
        center = await self.children.start(
            nursery,
            "command-center",
            python(
                "groundstation.command_center",
                "serve",
                "--db",
                str(self.run / "cc.db"),
                "--port",
                "0",
                "--token-file",
                str(self.files.token_file),
            ),
            ready="reference command center listening on",
        )
        self.url = center.ready_line.split()[-1]
        self.store = CommandCenterStore(self.run / "cc.db")
        write_station_config(
            self.files,
            radio=f"udp:127.0.0.1:{self.radio_base + self.files.ground_station}",
            uplink_url=self.url,
            status_interval=1.0,
            retry_max=4.0,
        )
        await self.children.start(
            nursery,
            "ground-station",
            python("groundstation.cli", "--config", str(self.files.station_config)),
        )
        for uav in self.plan.uavs:
            write_agent_config(
                self.files,
                uav.node,
                radio=f"udp:127.0.0.1:{self.radio_base + uav.node}",
                autopilot=f"tcp:127.0.0.1:{self.autopilot_port(uav.node)}",
                detector_port=self.detector_base + uav.node,
                telemetry_interval=2.0,
                status_interval=5.0,
            )
            await self.children.start(
                nursery,
                f"agent-{uav.node}",
                python("companion.agent.cli", "--config", str(self.files.agent_config(uav.node))),
            )
        self.log("started", f"{len(self.plan.uavs)} UAVs, ground station, command center up")

    def autopilot_port(self, node: int) -> int:
        """Where node's agent finds its autopilot: the world's double, or SITL's SERIAL0."""
        if node in self.sitl_instances:
            return serial0_port(self.sitl_instances[node])
        return self.autopilot_base + node

    # -- watching ----------------------------------------------------------------------

    async def watch(self) -> None:
        tick = 0
        while True:
            self.seen.refresh_world()
            station = self.seen.status(self.files.ground_station)
            self.view.draw(time.time() - self.log.start, self.seen.world, station)
            if tick % 2 == 0 and station:
                self.log("station", **station)
            if tick % 5 == 0:
                for uav in self.plan.uavs:
                    status = self.seen.status(uav.node)
                    if status:
                        self.log("agent", uav=uav.node, status=status)
            tick += 1
            await trio.sleep(1.0)

    def check_children(self) -> None:
        exited = self.children.exited()
        if exited:
            raise ScenarioError(f"processes ended early: {exited}")

    async def until(self, condition: Callable[[], bool], what: str, limit: float) -> None:
        with trio.move_on_after(limit):
            while not condition():
                self.check_children()
                await trio.sleep(0.5)
            return
        raise ScenarioError(f"waited {limit:.0f} s for {what}")

    # -- the operator ------------------------------------------------------------------

    async def queue(self, body: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {self.files.tokens.operator}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers) as client:
            response = await client.post("/api/commands", json=body)
        if response.status_code != 201:
            raise ScenarioError(f"command refused: {response.status_code} {response.text}")

    async def fault(self, fault: dict[str, Any] | None) -> None:
        headers = {"Authorization": f"Bearer {self.files.tokens.admin}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers) as client:
            if fault is None:
                response = await client.delete("/admin/faults")
            else:
                response = await client.post("/admin/faults", json=fault)
        response.raise_for_status()

    def status_of(self, command_id: str) -> str:
        assert self.store is not None
        found = {c.body["command_id"]: c.status for c in self.store.commands(limit=1000)}
        return found.get(command_id, "missing")

    async def command(self, body: dict[str, Any], limit: float = 90.0) -> None:
        await self.queue(body)
        command_id = body["command_id"]
        await self.until(
            lambda: self.status_of(command_id) not in OPEN_STATUSES | {"missing"},
            f"the outcome of {command_id}",
            limit,
        )
        status = self.status_of(command_id)
        self.log("outcome", f"{command_id}: {status}", command_id=command_id, status=status)
        if status != "completed":
            raise ScenarioError(f"{command_id} ended {status}")


async def run_demo(options: DemoOptions) -> dict[str, Any]:
    """Run the default scenario end to end; the report (also in report.json/report.png)."""
    demo = Demo(options)
    failure: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            await demo.start(nursery)
            nursery.start_soon(demo.watch)
            nursery.start_soon(demo.detectors.feed)
            try:
                await play(demo)
            except ScenarioError as exc:
                failure = exc
                demo.log("scenario_error", f"scenario stopped early: {exc}", error=str(exc))
            demo.detectors.feeding = False
            statuses = await demo.children.stop()
            demo.log("stopped", f"processes stopped: {statuses}", statuses=statuses)
            nursery.cancel_scope.cancel()
    finally:
        demo.children.close()
        if demo.store is not None:
            demo.store.close()
        demo.log.close()
    loaded = load_run(demo.run)
    report = report_of(loaded)
    if failure is not None:
        report["scenario_error"] = str(failure)
        report["ok"] = False
    write_report(demo.run, report)
    draw(loaded, report, demo.run / "report.png")
    print(summary(report))
    return report
