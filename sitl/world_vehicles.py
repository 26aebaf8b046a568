"""The vehicles of the simulated world: vehicle doubles, or real ArduPilot SITL instances.

Rules:
- Every world vehicle answers the same questions, whatever flies it: `position` (lat,
  lon, metres above home), `mode`, `armed`, `landed`, `ready`, and `autopilot` (what
  flies it, named for the report), and `serve()` runs it for the agent on `port`.
- "double" (the default): `sitl.vehicle.double.VehicleDouble`, served on
  `autopilot_base + node`, named "vehicle double (KIND)".
- "ardupilot": one SITL instance per UAV (`sitl.vehicle.sitl_vehicle`), of the kind
  the config gives the node (copter unless said), with the node id as its system id,
  started at the UAV's home, in `sitl_dir/sitl-NODE`; the agent's port is that
  instance's SERIAL0. Named by the version line SITL itself reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import trio

from .vehicle.ardupilot import SitlConfig, find_binary
from .vehicle.ardupilot_defaults import Vehicle
from .vehicle.double import VehicleDouble
from .vehicle.serve import serve_tcp
from .vehicle.sitl_vehicle import SitlVehicle

AUTOPILOTS = ("double", "ardupilot")


class WorldVehicle(Protocol):
    @property
    def port(self) -> int: ...
    @property
    def position(self) -> tuple[float, float, float]: ...
    @property
    def mode(self) -> str: ...
    @property
    def armed(self) -> bool: ...
    @property
    def landed(self) -> bool: ...
    @property
    def ready(self) -> bool: ...
    @property
    def autopilot(self) -> str: ...

    async def serve(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...


class DoubleVehicle:
    """A vehicle double served on TCP `port`."""

    def __init__(self, double: VehicleDouble, port: int) -> None:
        self.double = double
        self.port = port

    @property
    def position(self) -> tuple[float, float, float]:
        return self.double.position

    @property
    def mode(self) -> str:
        return self.double.mode

    @property
    def armed(self) -> bool:
        return self.double.armed

    @property
    def landed(self) -> bool:
        return self.double.landed

    @property
    def ready(self) -> bool:
        return self.double.ready

    @property
    def autopilot(self) -> str:
        return f"vehicle double ({self.double.kind})"

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_tcp, self.double, self.port)
            task_status.started()


def sitl_vehicle(
    node: int,
    home: tuple[float, float, float],
    *,
    kind: str,
    instance: int,
    ardupilot_dir: str | None,
    sitl_dir: Path,
) -> SitlVehicle:
    """Node `node`'s SITL (not started): binary from `ardupilot_dir`, else as
    `find_binary` looks for it (EVENT_ARDUPILOT_DIR, ...)."""
    vehicle = Vehicle(kind)
    binary = Path(ardupilot_dir) / vehicle.binary_name if ardupilot_dir else None
    config = SitlConfig(
        find_binary(binary, vehicle=vehicle),
        vehicle=vehicle,
        instance=instance,
        system_id=node,
        home=home,
    )
    return SitlVehicle(config, sitl_dir / f"sitl-{node}")
