"""The world's view of a real SITL vehicle, from MAVLink as ArduPilot sends it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dialects import event
from sitl.vehicle.ardupilot import SitlConfig
from sitl.vehicle.ardupilot_defaults import Vehicle
from sitl.vehicle.sitl_vehicle import SitlVehicle
from sitl.vehicle.sitl_view import SitlView, version_line

MAV = event.MAVLink(None, 7, 1)
PREARM = event.MAV_SYS_STATUS_PREARM_CHECK


def heard(message: Any, component: int = 1) -> Any:
    """`message` as the parser hands it over: packed and parsed, from system 7."""
    mav = event.MAVLink(None, 7, component)
    return event.MAVLink(None).parse_char(message.pack(mav))


def heartbeat(custom_mode: int, *, armed: bool = False, mav_type: int = 2) -> Any:
    base = event.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    base |= event.MAV_MODE_FLAG_SAFETY_ARMED if armed else 0
    return MAV.heartbeat_encode(
        mav_type, event.MAV_AUTOPILOT_ARDUPILOTMEGA, base, custom_mode, 4, 3
    )


def test_mode_armed_and_position_as_the_autopilot_says() -> None:
    view = SitlView()
    assert view.mode == "UNKNOWN"
    view.observe(heard(heartbeat(3, armed=True)))
    assert (view.mode, view.armed) == ("AUTO", True)
    view.observe(heard(MAV.global_position_int_encode(0, 0, 0, 584_000, 0, 0, 0, 0, 0)))
    assert view.position is None, "zeros until the EKF has an origin"
    view.observe(
        heard(
            MAV.global_position_int_encode(0, -353632610, 1491652300, 614_000, 30_000, 0, 0, 0, 0)
        )
    )
    assert view.position == (-35.363261, 149.16523, 614.0), "alt above sea level"
    view.observe(heard(heartbeat(11, mav_type=event.MAV_TYPE_FIXED_WING)))
    assert view.mode == "RTL", "ArduPlane's numbers for a plane"


def test_a_gcs_heartbeat_or_another_component_changes_nothing() -> None:
    view = SitlView()
    view.observe(heard(heartbeat(4)))
    gcs = MAV.heartbeat_encode(event.MAV_TYPE_GCS, event.MAV_AUTOPILOT_INVALID, 0, 0, 0, 3)
    view.observe(heard(gcs))
    view.observe(heard(heartbeat(6, armed=True), component=191))
    assert (view.mode, view.armed) == ("GUIDED", False)


def test_landed_from_extended_sys_state_else_while_disarmed() -> None:
    view = SitlView()
    view.observe(heard(heartbeat(4, armed=True)))
    assert not view.landed, "no EXTENDED_SYS_STATE (a rover): landed only while disarmed"
    view.observe(heard(MAV.extended_sys_state_encode(0, event.MAV_LANDED_STATE_ON_GROUND)))
    assert view.landed, "armed on the ground"
    view.observe(heard(MAV.extended_sys_state_encode(0, event.MAV_LANDED_STATE_IN_AIR)))
    assert not view.landed


def ekf(flags: int) -> Any:
    return heard(MAV.ekf_status_report_encode(flags, 0, 0, 0, 0, 0))


def test_ready_when_the_prearm_check_is_healthy_and_the_ekf_has_a_position() -> None:
    view = SitlView()
    sys_status = MAV.sys_status_encode
    view.observe(heard(sys_status(PREARM, PREARM, 0, 0, 12000, -1, -1, 0, 0, 0, 0, 0, 0)))
    assert not view.ready
    view.observe(heard(sys_status(PREARM, PREARM, PREARM, 0, 12000, -1, -1, 0, 0, 0, 0, 0, 0)))
    assert not view.ready, "SITL passes its pre-arm checks before the EKF has a position"
    good = event.EKF_POS_HORIZ_ABS | event.EKF_POS_VERT_ABS
    view.observe(ekf(good | event.EKF_CONST_POS_MODE))
    assert not view.ready
    view.observe(ekf(good))
    assert view.ready
    view.observe(heard(sys_status(0, 0, 0, 0, 12000, -1, -1, 0, 0, 0, 0, 0, 0)))
    assert view.ready, "a SYS_STATUS without the check says nothing about it"


def test_the_version_line_from_autopilot_version() -> None:
    view = SitlView()
    version = MAV.autopilot_version_encode(
        0, 0x04070000, 0, 0, 0, b"df83545f", b"\0" * 8, b"\0" * 8, 0, 0, 0
    )
    view.observe(heard(version))
    assert view.version == "ArduPilot 4.7.0-dev (df83545f)"
    view.observe(heard(heartbeat(0)))
    assert view.version == "ArduCopter 4.7.0-dev (df83545f)", "once its HEARTBEAT names it"
    assert version_line(event.MAV_TYPE_GROUND_ROVER, 0x040601FF, []) == "ArduRover 4.6.1"
    assert version_line(None, 0x04050380, [0] * 8) == "ArduPilot 4.5.3-beta"


def test_a_sitl_vehicle_is_as_high_as_sitl_says_above_its_homes_ground(tmp_path: Path) -> None:
    """ArduRover 4.7 SITL sent relative_alt 583844 mm standing at a 584 m home: the
    world's height comes from the altitude above sea level, so a rover stays on the
    ground (and in radio range)."""
    config = SitlConfig(tmp_path / "ardurover", vehicle=Vehicle.ROVER, system_id=7)
    rover = SitlVehicle(config, tmp_path)
    assert rover.position == (*config.home[:2], 0.0), "at home until SITL says otherwise"
    assert rover.autopilot == "ArduPilot SITL (ardurover)", "until SITL names itself"
    rover.view.observe(
        heard(
            MAV.global_position_int_encode(0, -353632610, 1491652300, 583_844, 583_844, 0, 0, 0, 0)
        )
    )
    assert rover.position[2] == pytest.approx(-0.156)
