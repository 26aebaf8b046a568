"""The simulated world of a swarm: the air (radio medium over loopback UDP) and the vehicles.

    node N's host --UDP--> 127.0.0.1:radio_base+N --> RadioMedium (range, loss, airtime)
    agent N --TCP--> 127.0.0.1:autopilot_port(N) --> vehicle N (flies; its position
                                                     is where node N's radio is)

Rules:
- One `World` runs every vehicle and every node's radio in one trio run, so a UAV's
  radio is exactly where its vehicle is: flying out of range is flying, not a scripted
  partition. The ground station's radio stands still at the origin.
- Positions on the radio's flat plane are metres east, north and up from `origin`
  (latitude, longitude), by `sitl.geo`.
- Vehicles (`sitl.world_vehicles`): the built-in vehicle double (`autopilot` "double",
  the default, named as such), or one real ArduPilot SITL instance per UAV
  (`autopilot` "ardupilot"), whose position is what SITL itself reports.
- `snapshot()` is what the world knows that no node does: true positions, modes, the
  air's counters (frames, bytes, losses, airtime against the channel's capacity), each
  node's own counters, and the faults (`faults`: applied, by action; what is in force).
- Faults (`sitl.world_faults`): the config's `faults` happen at their `at`, seconds after
  the world started; with `control_port`, a loopback TCP socket takes more at run time.
  Each applied fault is logged (logger `sitl.world`, one INFO line: time, source, what)
  and counted. A fault changes the air only: a cut UAV's double keeps flying.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from .air import AirBridge, Tracked
from .geo import to_local
from .motion import Position
from .radio import NodeStats, RadioConfig, RadioMedium, Stationary
from .vehicle.double import VehicleDouble
from .world_faults import MoveGroundStation, WorldFault, serve_control
from .world_vehicles import AUTOPILOTS, DoubleVehicle, WorldVehicle, sitl_vehicle

log = logging.getLogger("sitl.world")
GROUND_STATION_AT: Position = (0.0, 0.0, 2.0)
"""Where the ground station's radio stands until moved: at the origin, 2 m up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorldConfig:
    origin: tuple[float, float, float]
    """Latitude, longitude and ground altitude (AMSL) of the ground station."""
    homes: dict[int, tuple[float, float]]
    """Each UAV's node id and its home (latitude, longitude)."""
    ground_station: int = 255
    radio_base: int = 27000
    autopilot_base: int = 25760
    radio: RadioConfig = field(default_factory=RadioConfig)
    seed: int = 1
    ready_after: float = 5.0
    speed: float = 10.0
    autopilot: str = "double"
    """"double" or "ardupilot" (`sitl.world_vehicles`)."""
    kinds: dict[int, str] = field(default_factory=dict)
    """A UAV's vehicle kind (copter, plane, rover) where not copter."""
    ardupilot_dir: str | None = None
    """Where the SITL binaries are (else EVENT_ARDUPILOT_DIR, ...); "ardupilot" only."""
    sitl_instances: dict[int, int] = field(default_factory=dict)
    """Each UAV's SITL instance number (its ports: 5760 + 10 * N); "ardupilot" only."""
    sitl_dir: str = "."
    """Where each SITL instance gets its working directory; "ardupilot" only."""
    faults: tuple[WorldFault, ...] = ()
    """The plan: each fault with its `at`, in order (`sitl.world_faults.parse_plan`)."""
    control_port: int | None = None
    """A loopback TCP port for faults and status at run time; None: no control socket."""


class World:
    """Build inside `trio.run`; `run()` until cancelled."""

    def __init__(self, config: WorldConfig) -> None:
        if config.autopilot not in AUTOPILOTS:
            raise ValueError(f"autopilot must be one of {AUTOPILOTS}, not {config.autopilot!r}")
        self.config = config
        self.medium = RadioMedium(seed=config.seed, config=config.radio)
        self.bridge = AirBridge(self.medium, config.radio_base)
        self.faults_applied: Counter[str] = Counter()
        self.ground_station_at = GROUND_STATION_AT
        ground = config.origin[2]
        self.doubles: dict[int, VehicleDouble] = {}
        self.vehicles: dict[int, WorldVehicle] = {}
        for node, (lat, lon) in config.homes.items():
            kind = config.kinds.get(node, "copter")
            if config.autopilot == "ardupilot":
                self.vehicles[node] = sitl_vehicle(
                    node,
                    (lat, lon, ground),
                    kind=kind,
                    instance=config.sitl_instances[node],
                    ardupilot_dir=config.ardupilot_dir,
                    sitl_dir=Path(config.sitl_dir),
                )
                continue
            self.doubles[node] = VehicleDouble(
                system_id=node,
                home=(lat, lon, ground),
                speed=config.speed,
                ready_after=config.ready_after,
                seed=config.seed * 1000 + node,
                kind=kind,
            )
            port = config.autopilot_base + node
            self.vehicles[node] = DoubleVehicle(self.doubles[node], port)

    def local(self, lat: float, lon: float, alt: float) -> Position:
        """Metres east, north and up of (`lat`, `lon`, `alt` above ground) from the origin."""
        east, north = to_local(self.config.origin[:2], lat, lon)
        return (east, north, alt)

    def where(self, node: int) -> Position:
        return self.local(*self.vehicles[node].position)

    def _tracker(self, node: int) -> Tracked:
        return Tracked(lambda: self.where(node))

    def radio_port(self, node: int) -> int:
        return self.bridge.port_of(node)

    def autopilot_port(self, node: int) -> int:
        return self.vehicles[node].port

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            gs = self.config.ground_station
            await nursery.start(
                self.bridge.serve, gs, self.medium.attach(gs, Stationary(GROUND_STATION_AT))
            )
            for node, vehicle in self.vehicles.items():
                radio = self.medium.attach(node, self._tracker(node))
                await nursery.start(self.bridge.serve, node, radio)
                await nursery.start(vehicle.serve)
            if self.config.control_port is not None:
                control = self.config.control_port
                await nursery.start(serve_control, control, self.control, self.snapshot)
            nursery.start_soon(self._run_plan)
            task_status.started()

    async def _run_plan(self) -> None:
        for fault in self.config.faults:
            await trio.sleep_until(self.medium.channel.start + (fault.at or 0.0))
            self.apply(fault, "plan")

    def control(self, fault: WorldFault) -> dict[str, Any]:
        """Apply a fault from the control socket; what the socket answers."""
        return {"applied": self.apply(fault, "control"), "t": self._elapsed()}

    def apply(self, fault: WorldFault, source: str) -> str:
        """Apply `fault` now, log and count it; its description."""
        now = trio.current_time()
        match fault.event:
            case MoveGroundStation(position=position):
                self.ground_station_at = position
                self.medium.set_motion(self.config.ground_station, Stationary(position))
            case event:
                self.medium.schedule(now, event)
                self.medium.channel.advance(now)
        self.faults_applied[fault.action] += 1
        described = fault.describe()
        log.info("fault t=%.3f source=%s %s", self._elapsed(), source, described)
        return described

    def _elapsed(self) -> float:
        return round(trio.current_time() - self.medium.channel.start, 3)

    def links(self) -> list[list[int]]:
        """Node pairs (the ground station included) within reliable range of each other."""
        channel, now = self.medium.channel, trio.current_time()
        nodes = self._nodes()
        where = {node: channel.position(node, now) for node in nodes}
        return [
            [a, b]
            for a, b in itertools.combinations(nodes, 2)
            if self.config.radio.reach(math.dist(where[a], where[b])) == 1.0
        ]

    def snapshot(self) -> dict[str, Any]:
        """Seconds since the start, every vehicle (position, metres on the plane, mode), the
        links in range, and the air's counters against the channel's capacity."""
        total = self.medium.total()
        elapsed = max(1e-9, trio.current_time() - self.medium.channel.start)
        vehicles = {}
        for node, vehicle in self.vehicles.items():
            lat, lon, alt = vehicle.position
            x, y, _ = self.where(node)
            vehicles[str(node)] = {
                "lat": lat,
                "lon": lon,
                "alt": alt,
                "mode": vehicle.mode,
                "armed": vehicle.armed,
                "landed": vehicle.landed,
                "ready": vehicle.ready,
                "autopilot": vehicle.autopilot,
                "x": round(x, 1),
                "y": round(y, 1),
            }
        return {
            "t": round(elapsed, 3),
            "vehicles": vehicles,
            "links": self.links(),
            "nodes": {str(node): _node_figures(self.medium.stats(node)) for node in self._nodes()},
            "faults": self._faults(),
            "air": {
                "frames_sent": total.frames_sent,
                "bytes_sent": total.bytes_sent,
                "airtime": total.airtime,
                "frames_received": total.frames_received,
                "lost": {outcome.name.lower(): n for outcome, n in total.lost.items()},
                "utilisation": self.medium.utilisation(),
                "capacity_bytes": self.config.radio.air_rate / 8 * elapsed,
            },
        }

    def _nodes(self) -> list[int]:
        return sorted([self.config.ground_station, *self.vehicles])

    def _faults(self) -> dict[str, Any]:
        in_force = self.medium.channel.in_force(trio.current_time())
        return {
            "applied": dict(sorted(self.faults_applied.items())),
            "down": sorted(in_force.down),
            "partition": [sorted(group) for group in in_force.partition],
            "loss": in_force.loss,
            "node_loss": {str(node): p for node, p in sorted(in_force.node_loss.items())},
            "ground_station": list(self.ground_station_at),
        }


def _node_figures(stats: NodeStats) -> dict[str, Any]:
    return {
        "frames_sent": stats.frames_sent,
        "frames_discarded": stats.frames_discarded,
        "frames_received": stats.frames_received,
        "lost": {outcome.name.lower(): n for outcome, n in stats.lost.items()},
    }
