"""The agent end to end against real ArduPilot SITL, one test per vehicle kind the fleet
table names: a sealed mission assign read back and started (copter: GUIDED takeoff then
AUTO; plane: a takeoff item then AUTO; rover: AUTO), a parameter update read back from
SITL itself, a retask (GUIDED), an abort (RTL, or HOLD on a rover); and the link-loss
policy, RTL seen in SITL's own HEARTBEAT once the ground station falls silent. Real
clock, real sockets (SITL's TCP 5760 + 10 * instance and SERIAL1 beside it; the radio as
UDP on loopback). Each test skips, with its reason, unless `EVENT_ARDUPILOT_DIR` names a
directory holding that vehicle's binary (or `EVENT_ARDUPILOT_BINARY` an arducopter); the
same flows run against the vehicle double in test_agent_e2e.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from dialects import event
from sitl.vehicle.ardupilot import skip_reason
from sitl.vehicle.ardupilot_defaults import Vehicle
from sitl.vehicle.sitl_view import SitlView

from .sitl_flight import Flight, flying
from .test_agent_e2e import HOME, metres, survey

COMPLETED = [event.EVENT_OUTCOME_ACCEPTED, event.EVENT_OUTCOME_COMPLETED]
ABORT = {
    Vehicle.COPTER: ("rtl", "RTL"),
    Vehicle.PLANE: ("rtl", "RTL"),
    Vehicle.ROVER: ("hold", "HOLD"),
}


def run_on_sitl(vehicle: Vehicle, test: Any, *args: Any) -> None:
    """Run `test` under trio, or skip with the reason there is no `vehicle` binary. A
    plain test that runs trio itself, so the skip reason reaches pytest's summary."""
    if reason := skip_reason(vehicle):
        pytest.skip(f"{reason} (the same flow runs against the vehicle double)")
    trio.run(test, *args)


@pytest.mark.parametrize("vehicle", list(Vehicle), ids=lambda v: v.value)
def test_mission_parameters_retask_and_abort_on_ardupilot_sitl(
    tmp_path: Path, vehicle: Vehicle
) -> None:
    run_on_sitl(vehicle, _mission_parameters_retask_abort, tmp_path, vehicle)


def test_link_loss_policy_rtl_on_ardupilot_sitl(tmp_path: Path) -> None:
    run_on_sitl(Vehicle.COPTER, _link_loss_rtl, tmp_path)


async def _start_mission(flight: Flight, vehicle: Vehicle) -> None:
    """A 10-waypoint survey assigned and started; SITL itself flies it in AUTO."""
    params: dict[str, Any] = {"mission_id": 7, "items": survey(10), "start": True}
    if vehicle is not Vehicle.ROVER:
        params["takeoff"] = True
    outcomes = await flight.ground.command(
        {"command_id": "m7", "type": "mission_assign", "params": params}
    )
    assert outcomes == COMPLETED
    await flight.autopilot.wait_mode("AUTO")
    # SITL's own position: in the air (copter, plane), or off home (rover).
    if vehicle is Vehicle.ROVER:
        await flight.autopilot.wait_until(lambda view: _off_home(view) > 10)
    else:
        await flight.autopilot.wait_until(lambda view: _above_home(view) > 10)


def _above_home(view: SitlView) -> float:
    """Metres above home's ground, from SITL's altitude above sea level."""
    return -1.0 if view.position is None else view.position[2] - HOME[2]


def _off_home(view: SitlView) -> float:
    return -1.0 if view.position is None else metres(view.position[:2], HOME[:2])


async def _mission_parameters_retask_abort(tmp_path: Path, vehicle: Vehicle) -> None:
    async with flying(tmp_path, vehicle) as flight:
        ground, agent, autopilot = flight.ground, flight.agent, flight.autopilot
        await _start_mission(flight, vehicle)
        outcomes = await ground.command(
            {
                "command_id": "p1",
                "type": "param_update",
                "params": {"name": "BATT_CAPACITY", "value": 4321, "type": "int32"},
            }
        )
        assert outcomes == COMPLETED
        assert await autopilot.read_param("BATT_CAPACITY") == 4321
        target = (HOME[0] + 0.0009, HOME[1] + 0.0009)
        outcomes = await ground.command(
            {
                "command_id": "r1",
                "type": "retask",
                "params": {"lat": target[0], "lon": target[1], "alt": 40.0},
            }
        )
        assert outcomes == COMPLETED
        await autopilot.wait_mode("GUIDED")
        action, mode = ABORT[vehicle]
        outcomes = await ground.command(
            {"command_id": "a1", "type": "mission_abort", "params": {"action": action}}
        )
        assert outcomes == COMPLETED
        await autopilot.wait_mode(mode)
        assert agent.adapter.state.mode == mode
        if vehicle is Vehicle.COPTER:
            with trio.fail_after(600):  # RTL lands and disarms
                while agent.adapter.state.armed:
                    await trio.sleep(2)


async def _link_loss_rtl(tmp_path: Path) -> None:
    async with flying(tmp_path, link_loss="rtl", link_loss_timeout=10) as flight:
        await _start_mission(flight, Vehicle.COPTER)
        flight.cut_radio.cancel()
        await flight.autopilot.wait_mode("RTL", limit=180)
        assert flight.agent.link_loss.lost
