"""The default scenario's geometry and missions, from a seed: pure data, no I/O.

    far UAV (the last)      survey beyond the ground station's radio range
    relay UAV (next to last) loiters half-way: the far UAV's only route home
    first UAV               surveys, then is aborted (RTL) by the command center
    second UAV              surveys, then is retasked to a detection, then sent home
    any others              survey their sector and come home

Rules:
- Positions are metres east/north of the ground station (the origin), converted to
  latitude and longitude by `sitl.geo`, as `sitl.world` converts back.
- The seed moves survey sectors and targets a little and drives the detector's
  background detections; the roles and the timeline do not change with it.
- Targets are points on the ground that a UAV's detector reports when it passes within
  `DETECT_RADIUS` of them (once per UAV and target).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from sitl import geo

ORIGIN = (-35.363261, 149.165230, 584.0)
"""The ground station: ArduPilot SITL's default home (Canberra model flying club)."""
RANGE_M = 600.0
"""Radio range in the demo: frames fade from 70% of it and none arrive beyond it."""
ALTITUDE = 30.0
DETECT_RADIUS = 45.0


def to_latlon(east: float, north: float) -> tuple[float, float]:
    """Latitude and longitude `east`, `north` metres from the ground station."""
    return geo.to_latlon(ORIGIN[:2], east, north)


@dataclass(frozen=True, slots=True)
class Target:
    track_id: int
    east: float
    north: float
    class_id: int


@dataclass(frozen=True, slots=True)
class UavPlan:
    node: int
    role: str
    home: tuple[float, float]
    waypoints: tuple[tuple[str, float, float, int], ...]
    """(command, east, north, param) in flight order."""

    def mission_items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for command, east, north, param in self.waypoints:
            if command == "rtl":
                items.append({"command": "rtl"})
                continue
            lat, lon = to_latlon(east, north)
            items.append(
                {"command": command, "lat": lat, "lon": lon, "alt": ALTITUDE, "param": param}
            )
        return items


@dataclass(frozen=True, slots=True)
class Plan:
    seed: int
    uavs: tuple[UavPlan, ...]
    targets: tuple[Target, ...]
    outage_after: float
    """Seconds after the missions are accepted when the internet link drops."""
    outage: float
    """Seconds the ground station's internet link stays down."""
    speed: float

    def role(self, role: str) -> UavPlan:
        return next(uav for uav in self.uavs if uav.role == role)


def make_plan(uavs: int, seed: int, *, quick: bool = False) -> Plan:
    """The default scenario for `uavs` UAVs (4-8), nodes 1..uavs."""
    if not 4 <= uavs <= 8:
        raise ValueError("the default scenario needs 4 to 8 UAVs")
    rng = random.Random(seed)
    side = 60.0 if quick else 80.0
    relay_north, far_north = 330.0, 700.0
    plans: list[UavPlan] = []
    targets: list[Target] = []
    normal = uavs - 2
    for index in range(uavs):
        node = index + 1
        home = (-30.0 + 20.0 * index, -20.0)
        if node == uavs:
            role, centre = "far", (rng.uniform(-20, 20), far_north)
            waypoints = [("waypoint", centre[0], centre[1] - side / 2, 0)]
            waypoints += _box(centre, side)
        elif node == uavs - 1:
            role, centre = "relay", (rng.uniform(-20, 20), relay_north)
            loiter = 60
            waypoints = [
                ("waypoint", centre[0], centre[1], 0),
                ("loiter_time", centre[0], centre[1], loiter),
            ]
        else:
            role = {1: "aborted", 2: "retasked"}.get(node, "survey")
            bearing = math.radians(-60 + 120 * index / max(1, normal - 1)) + rng.uniform(-0.1, 0.1)
            distance = rng.uniform(170, 230)
            centre = (distance * math.sin(bearing), distance * math.cos(bearing))
            waypoints = _box(centre, side) + _box(centre, side * 0.5)
        waypoints.append(("rtl", 0.0, 0.0, 0))
        plans.append(UavPlan(node, role, home, tuple(waypoints)))
        for _ in range(2):
            targets.append(
                Target(
                    track_id=len(targets) + 1,
                    east=centre[0] + rng.uniform(-side / 2, side / 2),
                    north=centre[1] + rng.uniform(-side / 2, side / 2),
                    class_id=rng.choice((1, 2, 3)),
                )
            )
    return Plan(
        seed=seed,
        uavs=tuple(plans),
        targets=tuple(targets),
        outage_after=15.0 if quick else 25.0,
        outage=25.0 if quick else 40.0,
        speed=18.0,
    )


def _box(centre: tuple[float, float], side: float) -> list[tuple[str, float, float, int]]:
    east, north = centre
    half = side / 2
    corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
    return [("waypoint", east + dx, north + dy, 0) for dx, dy in corners]
