"""The fleet table: rows from telemetry, status and detections; mode names; staleness."""

from __future__ import annotations

from dialects import event
from groundstation.fleet import FleetState


def telemetry(
    custom_mode: int, *, armed: bool = True, vehicle_type: int = event.MAV_TYPE_QUADROTOR
) -> event.MAVLink_event_telemetry_message:
    flags = event.EVENT_STATUS_FLAGS_ARMED if armed else 0
    return event.MAVLink_event_telemetry_message(
        1_750_000_000,
        -353_632_621,
        1_491_652_374,
        512,
        900,
        18_000,
        1_580,
        3,
        custom_mode,
        87,
        flags,
        14,
        vehicle_type,
    )


def test_telemetry_fills_the_row_with_arducopter_mode_names() -> None:
    fleet = FleetState()
    row = fleet.heard(2, telemetry(4), now=10.0)
    assert (row.lat, row.lon, row.alt) == (-35.3632621, 149.1652374, 51.2)
    assert (row.mode, row.armed, row.battery, row.mission_item) == ("GUIDED", True, 87, 3)
    assert fleet.heard(2, telemetry(250), now=11.0).mode == "MODE_250"
    assert fleet.heard(2, telemetry(17, armed=False), now=12.0).mode == "BRAKE"
    assert fleet.rows()[0].armed is False


def test_mode_names_follow_the_vehicle_kind_the_telemetry_carries() -> None:
    fleet = FleetState()
    kinds = [
        (event.MAV_TYPE_FIXED_WING, 11, "RTL"),
        (event.MAV_TYPE_GROUND_ROVER, 4, "HOLD"),
        (event.MAV_TYPE_QUADROTOR, 11, "DRIFT"),
        # a sender that does not say (0: MAV_TYPE_GENERIC, or older than the field): Copter's
        (event.MAV_TYPE_GENERIC, 11, "DRIFT"),
    ]
    for node, (kind, number, name) in enumerate(kinds, start=2):
        assert fleet.heard(node, telemetry(number, vehicle_type=kind), now=1.0).mode == name


def test_status_and_detections_and_staleness() -> None:
    fleet = FleetState(stale_after=30.0)
    status = event.MAVLink_event_status_message(
        1_750_000_000, 60, 7, 12, event.EVENT_AGENT_STATE_LINK_LOSS, 0, 0, 1
    )
    fleet.heard(5, status, now=100.0)
    detection = event.MAVLink_event_detection_message(
        1, 1_750_000_000_000, 0, 0, 0, 0, [0, 0, 0, 0], 0, 1, 90
    )
    fleet.heard(3, detection, now=101.0)
    fleet.heard(3, detection, now=102.0)
    assert [(row.node, row.state, row.outbox_depth, row.detections) for row in fleet.rows()] == [
        (3, None, None, 2),
        (5, "link-loss", 12, 0),
    ]
    assert not fleet.stale(5, now=130.0)
    assert fleet.stale(5, now=130.5)
    assert fleet.stale(9, now=0.0)
