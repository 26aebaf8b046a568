"""What each vehicle kind can do with a mission, decided before anything is uploaded.

The kind comes from the autopilot's HEARTBEAT.type (MAV_TYPE, modes.py): copter, plane
or rover, the kinds the fleet table names. How each starts a mission (adapter.py):

- Copter (ArduCopter): GUIDED, arm, NAV_TAKEOFF, climb, then AUTO from item 1.
- Plane (ArduPlane): item 1, arm, AUTO. ArduPlane takes off only from a NAV_TAKEOFF
  mission item (`ModeAuto`, `Plane::do_takeoff`); it has no GUIDED takeoff. On the
  ground with the TAKEOFF flag, a mission whose first item is not a takeoff gets one
  inserted before it, to the takeoff altitude, so EVENT item i moves one seq further.
- Rover (ArduRover): item 1, arm, AUTO. A rover cannot take off: the TAKEOFF flag and
  TAKEOFF or LAND items are refused.

Rules:
- Whatever a kind cannot do is answered UNSUPPORTED with a reason, and whatever the
  vehicle's state does not allow (a copter or plane starting on the ground without the
  TAKEOFF flag) FAILED: both before any item is uploaded.
- A vehicle of another kind (a sub, an unknown MAV_TYPE) may be sent a mission but not
  told to start it.
"""

from __future__ import annotations

from dataclasses import replace

from dialects import event

from .mission_protocol import MissionItem
from .modes import VehicleKind, kind_of
from .result import Result, failed
from .validation import MissionPlan

_NOT_ON_A_ROVER = frozenset({event.MAV_CMD_NAV_TAKEOFF, event.MAV_CMD_NAV_LAND})


def unsupported(reason: str) -> Result:
    return Result(event.EVENT_OUTCOME_UNSUPPORTED, reason)


def fit_mission(plan: MissionPlan, mav_type: int | None, *, airborne: bool) -> MissionPlan | Result:
    """`plan` as this vehicle can fly it, or why it cannot (nothing uploaded yet)."""
    kind = kind_of(mav_type)
    if kind is VehicleKind.ROVER:
        return _rover(plan)
    if not plan.start:
        return plan
    if kind is None:
        return unsupported(f"start: MAV_TYPE {mav_type} is no copter, plane or rover")
    if not airborne and plan.takeoff_alt is None:
        return failed("on the ground and no takeoff altitude")
    if kind is VehicleKind.PLANE and not airborne:
        return _with_takeoff(plan)
    return plan


def _rover(plan: MissionPlan) -> MissionPlan | Result:
    if plan.takeoff_alt is not None:
        return unsupported("rover: cannot take off (TAKEOFF flag)")
    for seq, item in enumerate(plan.items, start=1):
        if item.command in _NOT_ON_A_ROVER:
            index = seq - plan.offset
            return unsupported(f"rover: item {index} is a takeoff or landing")
    return plan


def _with_takeoff(plan: MissionPlan) -> MissionPlan:
    """Insert NAV_TAKEOFF before the first item unless the first nav item is one."""
    assert plan.takeoff_alt is not None
    nav = [item for item in plan.items if item.command != event.MAV_CMD_DO_CHANGE_SPEED]
    if nav and nav[0].command == event.MAV_CMD_NAV_TAKEOFF:
        return plan
    takeoff = MissionItem(command=event.MAV_CMD_NAV_TAKEOFF, z=plan.takeoff_alt)
    return replace(plan, items=(takeoff, *plan.items), offset=plan.offset + 1)
