"""EVENT commands checked before anything reaches the autopilot."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.autopilot.adapter import AbortAction
from companion.autopilot.mission_protocol import MissionItem
from companion.autopilot.result import Result
from companion.autopilot.validation import (
    MAX_MISSION_ITEMS,
    MissionPlan,
    abort_action,
    mission_plan,
    param_update,
    reposition_target,
)
from dialects import event
from tests.companion.autopilot import events
from tests.companion.autopilot.events import HOME_LAT, HOME_LON, route

WAYPOINT = event.EVENT_ITEM_WAYPOINT
START = event.EVENT_MISSION_FLAGS_START
TAKEOFF = event.EVENT_MISSION_FLAGS_TAKEOFF


def plan_of(bundle: list[Any]) -> MissionPlan:
    plan = mission_plan(bundle)
    assert isinstance(plan, MissionPlan), plan
    return plan


def refusal(outcome: Any) -> str:
    assert isinstance(outcome, Result), outcome
    assert outcome.outcome == event.EVENT_OUTCOME_INVALID
    return outcome.reason


def test_mission_of_twenty_becomes_twenty_autopilot_items() -> None:
    plan = plan_of(events.assign(route(20)))
    assert len(plan.items) == 20
    assert plan.offset == 1
    assert plan.event_items == 20
    first = plan.items[0]
    assert first == MissionItem(
        command=event.MAV_CMD_NAV_WAYPOINT,
        x=HOME_LAT + 900,
        y=HOME_LON - 600,
        z=20.0,
        param2=2.0,
    )
    assert (plan.start, plan.takeoff_alt, plan.mission_id) == (True, 20.0, 7)


def test_item_kinds_map_to_mav_cmd() -> None:
    items = [
        (HOME_LAT, HOME_LON, 150, event.EVENT_ITEM_TAKEOFF, 0),
        (HOME_LAT + 900, HOME_LON, 200, event.EVENT_ITEM_LOITER_TIME, 30),
        (HOME_LAT + 900, HOME_LON + 900, 0, event.EVENT_ITEM_LAND, 0),
        (0, 0, 0, event.EVENT_ITEM_RTL, 0),
    ]
    plan = plan_of(events.assign(items))
    assert [item.command for item in plan.items] == [
        event.MAV_CMD_NAV_TAKEOFF,
        event.MAV_CMD_NAV_LOITER_TIME,
        event.MAV_CMD_NAV_LAND,
        event.MAV_CMD_NAV_RETURN_TO_LAUNCH,
    ]
    assert plan.items[1].param1 == 30.0
    assert plan.items[3] == MissionItem(command=event.MAV_CMD_NAV_RETURN_TO_LAUNCH)
    assert plan.takeoff_alt == 15.0  # the TAKEOFF item's, not the first waypoint's


def test_cruise_speed_becomes_a_change_speed_item_first() -> None:
    plan = plan_of(events.assign(route(3), speed=75))
    assert plan.offset == 2
    speed = plan.items[0]
    assert (speed.command, speed.param1, speed.param2) == (event.MAV_CMD_DO_CHANGE_SPEED, 1, 7.5)


def test_start_without_takeoff_has_no_takeoff_altitude() -> None:
    plan = plan_of(events.assign(route(2), flags=START))
    assert (plan.start, plan.takeoff_alt) == (True, None)
    plan = plan_of(events.assign(route(2), flags=0))
    assert plan.start is False


@pytest.mark.parametrize(
    ("bundle", "reason"),
    [
        (events.assign([]), "empty mission"),
        (
            events.assign(route(MAX_MISSION_ITEMS + 1)),
            f"{MAX_MISSION_ITEMS + 1} items: more than {MAX_MISSION_ITEMS}",
        ),
        (events.assign(route(3), item_count=4), "3 items for item_count 4"),
        (events.assign(route(3), item_count=2), "items disagree with item_count"),
        (events.assign(route(2), flags=TAKEOFF), "TAKEOFF flag needs START"),
        (events.assign(route(2), flags=0x80), "unknown mission flags 0x80"),
    ],
)
def test_bad_mission_headers(bundle: list[Any], reason: str) -> None:
    assert refusal(mission_plan(bundle)) == reason


def test_items_of_another_mission_or_overlapping_are_refused() -> None:
    bundle = events.assign(route(20))
    bundle[2] = events.items_message(8, 16, route(20)[16:])
    assert refusal(mission_plan(bundle)) == "items of mission 8, not 7"
    bundle = events.assign(route(20))
    bundle[2] = events.items_message(7, 15, route(20)[15:19])
    assert refusal(mission_plan(bundle)) == "items disagree with item_count"


def test_unexpected_message_in_bundle() -> None:
    bundle = [*events.assign(route(2)), *events.abort(0)]
    assert refusal(mission_plan(bundle)) == "unexpected EVENT_MISSION_ABORT in mission bundle"


def test_bad_items_count_in_a_message() -> None:
    bundle = events.assign(route(2))
    bundle[1].count = 17
    assert refusal(mission_plan(bundle)) == "EVENT_MISSION_ITEMS count 17"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ((91 * 10**7, HOME_LON, 200, WAYPOINT, 0), "latitude 910000000 out of range"),
        ((HOME_LAT, -1_800_000_001, 200, WAYPOINT, 0), "longitude -1800000001 out of range"),
        ((0, 0, 200, WAYPOINT, 0), "no position (0, 0)"),
        ((HOME_LAT, HOME_LON, 0, WAYPOINT, 0), "altitude must be above home"),
        ((HOME_LAT, HOME_LON, -50, event.EVENT_ITEM_TAKEOFF, 0), "altitude must be above home"),
        ((HOME_LAT, HOME_LON, 200, 9, 0), "unknown item kind 9"),
    ],
)
def test_bad_items(item: tuple[int, int, int, int, int], reason: str) -> None:
    assert refusal(mission_plan(events.assign([route(1)[0], item]))) == f"item 1: {reason}"


def test_abort_actions() -> None:
    assert abort_action(events.abort(event.EVENT_ABORT_ACTION_LAND)[0]) is AbortAction.LAND
    assert refusal(abort_action(events.abort(7)[0])) == "unknown abort action 7"


def test_reposition_targets() -> None:
    target = reposition_target(events.reposition(HOME_LAT, HOME_LON, 305)[0])
    assert target == pytest.approx((-35.363261, 149.16523, 30.5))
    assert refusal(reposition_target(events.reposition(0, 0, 300)[0])) == "no position (0, 0)"
    assert (
        refusal(reposition_target(events.reposition(HOME_LAT, HOME_LON, 0)[0]))
        == "altitude must be above home"
    )
    assert (
        refusal(reposition_target(events.reposition(HOME_LAT, 1_900_000_000, 10)[0]))
        == "longitude 1900000000 out of range"
    )
    loiter = reposition_target(events.reposition(HOME_LAT, HOME_LON, 300, loiter_time=60)[0])
    assert isinstance(loiter, Result)
    assert loiter.outcome == event.EVENT_OUTCOME_UNSUPPORTED


@pytest.mark.parametrize(
    ("name", "value", "param_type", "reason"),
    [
        (b"wpnav_speed", 500.0, event.MAV_PARAM_TYPE_REAL32, "bad parameter name 'wpnav_speed'"),
        (b"", 1.0, event.MAV_PARAM_TYPE_INT8, "bad parameter name ''"),
        (b"RTL ALT", 1.0, event.MAV_PARAM_TYPE_INT32, "bad parameter name 'RTL ALT'"),
        (b"FENCE_ENABLE", 300.0, event.MAV_PARAM_TYPE_INT8, "300 out of range for INT8"),
        (b"FENCE_ENABLE", 1.0, event.MAV_PARAM_TYPE_REAL64, "unsupported param type 10"),
        (b"RTL_ALT", 1.5, event.MAV_PARAM_TYPE_INT32, "1.5 is not an integer (INT32)"),
    ],
)
def test_bad_param_updates(name: bytes, value: float, param_type: int, reason: str) -> None:
    assert refusal(param_update(events.param_update(name, value, param_type)[0])) == reason


def test_good_param_update() -> None:
    update = param_update(events.param_update(b"RTL_ALT", 3000, event.MAV_PARAM_TYPE_INT32)[0])
    assert update == ("RTL_ALT", 3000.0, event.MAV_PARAM_TYPE_INT32)


int32 = st.integers(-(2**31), 2**31 - 1)
int16 = st.integers(-(2**15), 2**15 - 1)
uint8 = st.integers(0, 255)
uint16 = st.integers(0, 2**16 - 1)


@st.composite
def bundles(draw: st.DrawFn) -> list[Any]:
    """An EVENT_MISSION_ASSIGN and up to three EVENT_MISSION_ITEMS, any field values."""
    mission_id = draw(uint16)
    head = event.MAVLink_event_mission_assign_message(
        draw(st.integers(0, 2**32 - 1)), mission_id, draw(uint16), draw(uint8), draw(uint8), 0
    )
    parts = [
        event.MAVLink_event_mission_items_message(
            draw(st.sampled_from([mission_id, draw(uint16)])),
            draw(uint16),
            draw(uint8),
            draw(st.lists(int32, min_size=16, max_size=16)),
            draw(st.lists(int32, min_size=16, max_size=16)),
            draw(st.lists(int16, min_size=16, max_size=16)),
            draw(st.lists(st.integers(0, 6), min_size=16, max_size=16)),
            draw(st.lists(uint8, min_size=16, max_size=16)),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    return [head, *parts]


@given(bundles())
def test_any_mission_bundle_is_a_plan_or_invalid_never_an_exception(bundle: list[Any]) -> None:
    plan = mission_plan(bundle)
    if isinstance(plan, Result):
        assert plan.outcome == event.EVENT_OUTCOME_INVALID
        assert 0 < len(plan.reason.encode()) <= 50
    else:
        assert len(plan.items) == plan.event_items + (plan.offset - 1)
        assert 1 <= plan.event_items <= MAX_MISSION_ITEMS


@given(
    st.binary(max_size=16).filter(lambda b: b"\x00" not in b),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    uint8,
)
def test_any_param_update_is_checked_never_an_exception(
    name: bytes, value: float, param_type: int
) -> None:
    checked = param_update(events.param_update(name, value, param_type)[0])
    if isinstance(checked, Result):
        assert checked.outcome == event.EVENT_OUTCOME_INVALID
    else:
        assert checked[0].encode() == name
