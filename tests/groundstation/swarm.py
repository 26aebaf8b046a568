"""A small swarm in one test process, every part real: two agents, vehicle doubles, the air
over loopback UDP, the ground station and its cloud uplink.

Each part is the production code opened from its generated TOML file (`sitl.provisioning`)
exactly as the daemons open it; only the process boundary is missing. Real clock: the
outboxes' SQLite threads, the HTTP server and Mosquitto are outside trio.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

from companion.agent.agent import Agent
from companion.agent.assembly import open_agent
from companion.agent.config import load_config
from groundstation.config import load_station_config
from groundstation.station import GroundStation, open_ground_station
from sitl.provisioning import FleetFiles, provision_fleet, write_agent_config, write_station_config
from sitl.radio import RadioConfig
from sitl.world import World, WorldConfig

UAVS = (1, 2)
ORIGIN = (-35.363261, 149.165230, 584.0)
HOMES = {1: (-35.3622, 149.1650), 2: (-35.3624, 149.1662)}
WAIT = 180.0
"""Generous limit for anything a swarm test waits on (a loaded 2-core machine)."""


def _port_base() -> int:
    """Ports for this process: distinct per pytest worker/process, stable within one."""
    return 20000 + (os.getpid() % 200) * 40


@dataclass
class Swarm:
    files: FleetFiles
    world: World
    station: GroundStation
    agents: dict[int, Agent]
    detector: trio.socket.SocketType
    sent: list[tuple[int, int]] = field(default_factory=list)

    async def detect(self, uav: int, track_id: int) -> None:
        """The onboard detector of `uav` reports a detection with this track id."""
        line = {"class_id": 3, "confidence": 0.9, "bbox": [10, 20, 30, 40], "track_id": track_id}
        port = self.agents[uav].detection_port
        assert port is not None
        await self.detector.sendto((json.dumps(line) + "\n").encode(), ("127.0.0.1", port))
        self.sent.append((uav, track_id))

    async def until(self, condition: Callable[[], bool], what: str, limit: float = WAIT) -> None:
        with trio.move_on_after(limit):
            while not condition():
                await trio.sleep(0.1)
            return
        pytest.fail(f"waited {limit:.0f} s for: {what}; station: {self.station.gateway.snapshot()}")


def provision(root: Path) -> FleetFiles:
    return provision_fleet(root, UAVS)


@asynccontextmanager
async def open_swarm(
    files: FleetFiles, *, uplink_url: str = "", mqtt_port: int = 0, fleet: str = "sim"
) -> AsyncIterator[Swarm]:
    """Start everything for the fleet `files` (see `provision`), wait until the ground
    station hears both UAVs and both agents know where their vehicle is."""
    base = _port_base()
    world = World(
        WorldConfig(
            origin=ORIGIN,
            homes=HOMES,
            radio_base=base,
            autopilot_base=base + 1000,
            radio=RadioConfig(range_m=3000.0),
            ready_after=2.0,
        )
    )
    for node in UAVS:
        write_agent_config(
            files,
            node,
            radio=f"udp:127.0.0.1:{world.radio_port(node)}",
            autopilot=f"tcp:127.0.0.1:{world.autopilot_port(node)}",
            detector_port=base + 2000 + node,
        )
    write_station_config(
        files,
        radio=f"udp:127.0.0.1:{world.radio_port(files.ground_station)}",
        uplink_url=uplink_url,
        mqtt_host="127.0.0.1" if mqtt_port else "",
        mqtt_port=mqtt_port or 1883,
        fleet=fleet,
        status_interval=1.0,
        retry_max=2.0,
    )
    detector = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    async with AsyncExitStack() as stack:
        stack.enter_context(detector)
        air = await stack.enter_async_context(trio.open_nursery())
        stack.callback(air.cancel_scope.cancel)
        await air.start(world.run)
        station = await stack.enter_async_context(
            open_ground_station(load_station_config(files.station_config))
        )
        agents = {
            node: await stack.enter_async_context(open_agent(load_config(files.agent_config(node))))
            for node in UAVS
        }
        nodes = await stack.enter_async_context(trio.open_nursery())
        stack.callback(nodes.cancel_scope.cancel)
        await nodes.start(station.run)
        for agent in agents.values():
            await nodes.start(agent.run)
        swarm = Swarm(files, world, station, agents, detector)
        fleet_table = station.gateway.fleet
        await swarm.until(
            lambda: (
                all(node in fleet_table for node in UAVS)
                and all(agent.adapter.state.lat for agent in agents.values())
            ),
            "both UAVs heard by the ground station, with a position",
        )
        yield swarm
