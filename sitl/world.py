"""The simulated world of a swarm: the air (radio medium over loopback UDP) and the vehicles.

    node N's host --UDP--> 127.0.0.1:radio_base+N --> RadioMedium (range, loss, airtime)
    agent N --TCP--> 127.0.0.1:autopilot_base+N --> VehicleDouble N (flies; its position
                                                    is where node N's radio is)

Rules:
- One `World` runs every vehicle double and every node's radio in one trio run, so a
  UAV's radio is exactly where its double is: flying out of range is flying, not a
  scripted partition. The ground station's radio stands still at the origin.
- Positions on the radio's flat plane are metres east, north and up from `origin`
  (latitude, longitude), by `sitl.geo`.
- Doubles are the built-in vehicle double (`sitl.vehicle.double`, named as such).
- `snapshot()` is what the world knows that no node does: true positions, modes, and the
  air's counters (frames, bytes, losses, airtime against the channel's capacity).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import trio

from .air import AirBridge, Tracked
from .geo import to_local
from .motion import Position
from .radio import RadioConfig, RadioMedium, Stationary
from .vehicle.double import VehicleDouble
from .vehicle.serve import serve_tcp


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


class World:
    """Build inside `trio.run`; `run()` until cancelled."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self.medium = RadioMedium(seed=config.seed, config=config.radio)
        self.bridge = AirBridge(self.medium, config.radio_base)
        ground = config.origin[2]
        self.doubles = {
            node: VehicleDouble(
                system_id=node,
                home=(lat, lon, ground),
                speed=config.speed,
                ready_after=config.ready_after,
                seed=config.seed * 1000 + node,
            )
            for node, (lat, lon) in config.homes.items()
        }

    def local(self, lat: float, lon: float, alt: float) -> Position:
        """Metres east, north and up of (`lat`, `lon`, `alt` above ground) from the origin."""
        east, north = to_local(self.config.origin[:2], lat, lon)
        return (east, north, alt)

    def where(self, node: int) -> Position:
        return self.local(*self.doubles[node].position)

    def _tracker(self, node: int) -> Tracked:
        return Tracked(lambda: self.where(node))

    def radio_port(self, node: int) -> int:
        return self.bridge.port_of(node)

    def autopilot_port(self, node: int) -> int:
        return self.config.autopilot_base + node

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            gs = self.config.ground_station
            await nursery.start(
                self.bridge.serve, gs, self.medium.attach(gs, Stationary((0.0, 0.0, 2.0)))
            )
            for node, double in self.doubles.items():
                radio = self.medium.attach(node, self._tracker(node))
                await nursery.start(self.bridge.serve, node, radio)
                await nursery.start(serve_tcp, double, self.autopilot_port(node))
            task_status.started()

    def links(self) -> list[list[int]]:
        """Node pairs (the ground station included) within reliable range of each other."""
        channel, now = self.medium.channel, trio.current_time()
        nodes = sorted([self.config.ground_station, *self.doubles])
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
        for node, double in self.doubles.items():
            lat, lon, alt = double.position
            x, y, _ = self.where(node)
            vehicles[str(node)] = {
                "lat": lat,
                "lon": lon,
                "alt": alt,
                "mode": double.mode,
                "armed": double.armed,
                "landed": double.landed,
                "x": round(x, 1),
                "y": round(y, 1),
            }
        return {
            "t": round(elapsed, 3),
            "vehicles": vehicles,
            "links": self.links(),
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
