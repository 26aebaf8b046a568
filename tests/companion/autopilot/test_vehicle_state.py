"""The state tracker: whose messages count, what they say, and when the link is lost."""

from __future__ import annotations

import pytest

from companion.autopilot.vehicle_state import LinkEventKind, StateTracker
from dialects import event
from tests.companion.autopilot.fc import (
    AUTO,
    GUIDED,
    from_fc,
    global_position,
    heartbeat,
    mission_current,
    statustext,
)


def events(tracker: StateTracker) -> list[tuple[LinkEventKind, float]]:
    out = []
    while (change := tracker.next_event()) is not None:
        out.append((change.kind, change.at))
    return out


def test_learns_the_autopilot_from_its_heartbeat_and_ignores_others() -> None:
    tracker = StateTracker()
    gcs = event.MAVLink_heartbeat_message(
        event.MAV_TYPE_GCS, event.MAV_AUTOPILOT_INVALID, 0, 0, 0, 3
    )
    assert not tracker.receive(from_fc(gcs, system=255, component=190), 0.0)
    assert not tracker.receive(from_fc(global_position(rel_alt=5.0)), 0.0)  # before HB
    assert tracker.receive(from_fc(heartbeat(GUIDED, armed=True), system=7), 1.0)
    state = tracker.state
    assert (state.system_id, state.component_id) == (7, 1)
    assert (state.mode, state.custom_mode, state.armed, state.connected) == (
        "GUIDED",
        GUIDED,
        True,
        True,
    )
    assert not tracker.receive(from_fc(heartbeat(AUTO), system=8), 1.5)  # another vehicle
    assert not tracker.receive(from_fc(statustext("gimbal"), system=7, component=154), 1.5)
    assert state.mode == "GUIDED"
    assert tracker.ignored == 4


def test_configured_system_id_is_the_only_one_heard() -> None:
    tracker = StateTracker(system_id=2)
    assert not tracker.receive(from_fc(heartbeat(), system=1), 0.0)
    assert tracker.receive(from_fc(heartbeat(), system=2), 0.0)


def test_an_autopilot_back_under_another_system_id_is_learned_again() -> None:
    """Rebooted after its system id was set (ArduPilot applies it at boot): the learned id
    follows while the link is lost, never while it is up; a configured one never."""
    tracker = StateTracker(link_timeout=5.0)
    tracker.receive(from_fc(heartbeat(), system=1), 0.0)
    assert not tracker.receive(from_fc(heartbeat(), system=3), 1.0), "link up: another vehicle"
    tracker.on_timer(5.0)
    assert tracker.receive(from_fc(heartbeat(), system=3, component=1), 9.0)
    assert (tracker.state.system_id, tracker.state.component_id) == (3, 1)
    assert not tracker.receive(from_fc(heartbeat(), system=1), 9.5)
    assert [kind for kind, _ in events(tracker)] == [
        LinkEventKind.CONNECTED,
        LinkEventKind.LOST,
        LinkEventKind.RESTORED,
    ]
    configured = StateTracker(system_id=1, link_timeout=5.0)
    configured.receive(from_fc(heartbeat(), system=1), 0.0)
    configured.on_timer(5.0)
    assert not configured.receive(from_fc(heartbeat(), system=3), 9.0)


def test_stream_fills_the_state() -> None:
    tracker = StateTracker()
    tracker.receive(from_fc(heartbeat()), 0.0)
    tracker.receive(from_fc(global_position(lat=-35.36, lon=149.16, rel_alt=12.5)), 0.1)
    tracker.receive(
        from_fc(event.MAVLink_sys_status_message(0, 0, 0, 0, 12600, -1, 87, 0, 0, 0, 0, 0, 0)),
        0.1,
    )
    tracker.receive(
        from_fc(event.MAVLink_gps_raw_int_message(0, 3, 0, 0, 0, 0, 0, 0, 0, 11)),
        0.1,
    )
    flags = event.EKF_ATTITUDE | event.EKF_POS_HORIZ_ABS | event.EKF_POS_VERT_ABS
    tracker.receive(from_fc(event.MAVLink_ekf_status_report_message(flags, 0, 0, 0, 0, 0)), 0.1)
    tracker.receive(from_fc(mission_current(4)), 0.2)
    tracker.receive(from_fc(event.MAVLink_mission_item_reached_message(3)), 0.2)
    tracker.receive(from_fc(statustext("Mission: 4 WP")), 0.3)
    tracker.receive(
        from_fc(event.MAVLink_home_position_message(-353632610, 1491652300, 584000, 0, 0, 0,
                                                    [1, 0, 0, 0], 0, 0, 0)),
        0.3,
    )  # fmt: skip
    state = tracker.state
    assert (state.lat, state.lon) == pytest.approx((-35.36, 149.16))
    assert state.alt_rel == pytest.approx(12.5)
    assert state.alt_amsl == pytest.approx(596.5)
    assert state.groundspeed == pytest.approx(5.0)  # vx 3 m/s, vy 4 m/s
    assert state.heading == pytest.approx(90.0)
    assert (state.battery_voltage, state.battery_remaining) == pytest.approx((12.6, 87))
    assert (state.gps_fix, state.satellites) == (3, 11)
    assert state.position_ready
    assert state.gps_ok
    assert (state.mission_current, state.mission_reached, state.items_reached) == (4, 3, [3])
    assert state.last_statustext == "Mission: 4 WP"
    assert state.home == pytest.approx((-35.363261, 149.16523, 584.0))


def test_position_is_unknown_until_the_ekf_has_an_origin() -> None:
    tracker = StateTracker()
    tracker.receive(from_fc(heartbeat()), 0.0)
    tracker.receive(from_fc(global_position(lat=0.0, lon=0.0)), 0.1)
    assert tracker.state.lat is None
    assert tracker.state.lon is None


def test_constant_position_mode_is_not_ready() -> None:
    tracker = StateTracker()
    tracker.receive(from_fc(heartbeat()), 0.0)
    flags = (
        event.EKF_ATTITUDE | event.EKF_POS_HORIZ_ABS | event.EKF_POS_VERT_ABS
    ) | event.EKF_CONST_POS_MODE
    tracker.receive(from_fc(event.MAVLink_ekf_status_report_message(flags, 0, 0, 0, 0, 0)), 0.1)
    assert not tracker.state.position_ready


def test_airborne_by_landed_state_or_altitude() -> None:
    tracker = StateTracker()
    tracker.receive(from_fc(heartbeat(armed=True)), 0.0)
    tracker.receive(from_fc(global_position(rel_alt=0.2)), 0.1)
    assert not tracker.state.airborne
    tracker.receive(from_fc(global_position(rel_alt=3.0)), 0.2)
    assert tracker.state.airborne
    on_ground = event.MAVLink_extended_sys_state_message(0, event.MAV_LANDED_STATE_ON_GROUND)
    tracker.receive(from_fc(on_ground), 0.3)
    assert not tracker.state.airborne


def test_link_lost_after_the_timeout_and_restored_by_a_heartbeat() -> None:
    tracker = StateTracker(link_timeout=5.0)
    assert tracker.next_deadline() is None
    tracker.receive(from_fc(heartbeat()), 10.0)
    tracker.receive(from_fc(heartbeat()), 11.0)
    assert tracker.next_deadline() == 16.0
    tracker.on_timer(15.9)
    assert tracker.state.connected
    tracker.on_timer(16.0)
    assert not tracker.state.connected
    assert tracker.next_deadline() is None
    tracker.receive(from_fc(heartbeat()), 30.0)
    assert tracker.state.connected
    assert tracker.state.links_lost == 1
    assert events(tracker) == [
        (LinkEventKind.CONNECTED, 10.0),
        (LinkEventKind.LOST, 16.0),
        (LinkEventKind.RESTORED, 30.0),
    ]


def test_boot_clock_running_backwards_is_a_reboot() -> None:
    tracker = StateTracker()
    tracker.receive(from_fc(heartbeat()), 0.0)
    tracker.receive(from_fc(global_position(time_boot_ms=60_000)), 1.0)
    tracker.receive(from_fc(global_position(time_boot_ms=59_000)), 1.1)  # jitter, not reboot
    tracker.receive(from_fc(event.MAVLink_system_time_message(0, 1_500)), 2.0)
    assert tracker.state.reboots == 0, "one message alone is no reboot"
    tracker.receive(from_fc(global_position(time_boot_ms=1_700)), 2.2)  # agrees: rebooted
    assert tracker.state.reboots == 1
    assert events(tracker) == [(LinkEventKind.CONNECTED, 0.0), (LinkEventKind.REBOOTED, 2.2)]
