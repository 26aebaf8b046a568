"""The default scenario, played against the demo's processes as an operator would.

    1. wait until the ground station hears every UAV and every autopilot would arm
    2. assign each UAV its survey (mission assign, take off unless a rover, AUTO); wait
       for every ACK
    3. the ground station's internet link drops (the command center drops connections)
       for `plan.outage` seconds, then comes back: buffered records sync
    4. retask one UAV to a detection the command center holds; abort another (RTL)
    5. the retasked UAV, over its target, is sent home; the far UAV comes back through
       the relay; wait until every UAV is home: a copter landed and disarmed, a plane
       circling home in RTL, a rover stopped at home
    6. wait until every queue (agents' outboxes, the station's radio and uplink outboxes)
       is empty and every detection fed is at the command center

Rules: every step waits on a condition with a limit (`Demo.until`); a command whose
outcome is not "completed" ends the scenario (`ScenarioError`). "Would arm" and "home"
are the world's truth (the double's state, or what SITL itself reports). On real SITL
the survey missions carry the plan's speed (a copter's or rover's DO_CHANGE_SPEED), as
the double's is configured.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import trio

from sitl.geo import to_local

from .plan import ORIGIN, to_latlon
from .report import uav_of

if TYPE_CHECKING:
    from .runner import Demo


class ScenarioError(RuntimeError):
    """A step of the scenario did not happen within its limit."""


async def play(demo: Demo) -> None:
    plan, gs = demo.plan, demo.files.ground_station
    nodes = [uav.node for uav in plan.uavs]

    def all_heard() -> bool:
        rows = {row["node"]: row for row in demo.seen.status(gs).get("fleet", [])}
        return all(rows.get(node, {}).get("lat") for node in nodes)

    await demo.until(all_heard, "the ground station to hear every UAV", 180)
    await demo.until(
        lambda: all(demo.seen.vehicle(n).get("ready") for n in nodes),
        "every autopilot's pre-arm checks to pass",
        180,
    )
    for uav in plan.uavs:
        kind = demo.options.kind(uav.node)
        params: dict[str, Any] = {
            "mission_id": uav.node,
            "items": uav.mission_items(),
            "start": True,
        }
        if kind != "rover":
            params["takeoff"] = True
        if demo.options.vehicles == "ardupilot" and kind != "plane":
            params["speed"] = plan.speed
        await demo.queue(
            {
                "command_id": f"survey-{uav.node}",
                "uav": uav.node,
                "type": "mission_assign",
                "params": params,
            }
        )
        demo.log(
            "mission_assigned",
            f"survey mission for UAV {uav.node} ({uav.role})",
            uav=uav.node,
            command_id=f"survey-{uav.node}",
        )
    await demo.until(
        lambda: all(demo.status_of(f"survey-{n}") == "completed" for n in nodes),
        "every survey mission accepted and started",
        120,
    )
    demo.log("outcome", "every UAV flies its survey in AUTO")

    await trio.sleep(plan.outage_after)
    await demo.fault({"mode": "drop"})
    demo.log("outage_start", "ground station's internet link down")
    await trio.sleep(plan.outage)
    await demo.fault(None)
    demo.log("outage_end", "internet link back: buffered records sync")

    retasked, aborted = plan.role("retasked"), plan.role("aborted")
    target = await detection_to_visit(demo, retasked.node)
    await demo.command(
        {
            "command_id": f"retask-{retasked.node}",
            "uav": retasked.node,
            "type": "retask",
            "params": {
                "lat": target["lat_deg"],
                "lon": target["lon_deg"],
                "alt": 30.0,
                "track_id": target["track_id"],
            },
        }
    )
    demo.log(
        "retask",
        f"UAV {retasked.node} retasked to track {target['track_id']}",
        uav=retasked.node,
        command_id=f"retask-{retasked.node}",
        lat=target["lat_deg"],
        lon=target["lon_deg"],
    )
    await send_home(demo, aborted.node, f"abort-{aborted.node}", "aborted")
    over = OVER_TARGET_M[demo.options.kind(retasked.node)]
    await demo.until(
        lambda: _distance_to(demo.seen.vehicle(retasked.node), target) < over,
        f"UAV {retasked.node} over the detection",
        90,
    )
    await send_home(demo, retasked.node, f"home-{retasked.node}", "over its target")

    homes = {uav.node: to_latlon(*uav.home) for uav in plan.uavs}
    await demo.until(
        lambda: all(is_home(demo.options.kind(n), demo.seen.vehicle(n), homes[n]) for n in nodes),
        "every UAV home (copters landed and disarmed)",
        420,
    )
    demo.detectors.feeding = False
    demo.log("landed", "every UAV home: copters landed and disarmed")
    await demo.until(lambda: synced(demo), "every queue drained to the command center", 300)
    demo.log("finished", "every queue drained; stopping")


async def send_home(demo: Demo, uav: int, command_id: str, why: str) -> None:
    """Abort `uav`'s flight with RTL, as the command center's operator."""
    body = {"command_id": command_id, "uav": uav, "type": "mission_abort"}
    await demo.command({**body, "params": {"action": "rtl"}})
    demo.log("abort", f"UAV {uav} {why}: RTL", uav=uav, command_id=command_id)


async def detection_to_visit(demo: Demo, retasked: int) -> dict[str, Any]:
    """A detection the command center holds, from another UAV, for the retask."""
    assert demo.store is not None
    for _ in range(120):
        for _, record, _ in demo.store.records(limit=1000, msg_type="detection"):
            if record.source != f"uav-{retasked}" and record.payload.get("class_id"):
                return record.payload
        await trio.sleep(0.5)
    raise ScenarioError("no detection at the command center to retask to")


def synced(demo: Demo) -> bool:
    assert demo.store is not None
    station = demo.seen.status(demo.files.ground_station)
    if station.get("uplink_backlog") != 0 or station.get("radio_outbox_depth") != 0:
        return False
    if any(demo.seen.status(u.node).get("outbox_depth") != 0 for u in demo.plan.uavs):
        return False
    stored = {
        (uav_of(r.source), r.payload["track_id"])
        for _, r, _ in demo.store.records(limit=100_000, msg_type="detection")
    }
    return demo.detectors.sent <= stored


OVER_TARGET_M = {"copter": 10.0, "rover": 10.0, "plane": 150.0}
"""How near counts as over a target: a plane in GUIDED circles it (WP_LOITER_RAD)."""


def is_home(kind: str, vehicle: dict[str, Any], home: tuple[float, float]) -> bool:
    """A copter landed and disarmed; a plane circling home in RTL; a rover stopped home."""
    if not vehicle:
        return False
    if kind == "copter":
        return bool(vehicle.get("landed") and not vehicle.get("armed"))
    away = _metres_to(vehicle, *home)
    if kind == "plane":
        return vehicle.get("mode") == "RTL" and away < 300
    return away < 10


def _distance_to(vehicle: dict[str, Any], detection: dict[str, Any]) -> float:
    return _metres_to(vehicle, detection["lat_deg"], detection["lon_deg"])


def _metres_to(vehicle: dict[str, Any], lat: float, lon: float) -> float:
    if not vehicle:
        return float("inf")
    here = to_local(ORIGIN[:2], vehicle["lat"], vehicle["lon"])
    return math.dist(here, to_local(ORIGIN[:2], lat, lon))
