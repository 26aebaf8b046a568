"""Commands from the cloud: parsing untrusted JSON, and the dialect messages they become."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialects import event
from groundstation.commands import (
    COMMAND_TYPES,
    ITEMS_PER_MESSAGE,
    MAX_MISSION_ITEMS,
    Command,
    CommandError,
    parse_command,
    to_messages,
)


def command(kind: str, params: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"command_id": "op-1", "uav": 3, "type": kind, "params": params, **top}


def waypoint(i: int) -> dict[str, Any]:
    return {"lat": -35.36 + i * 1e-4, "lon": 149.16, "alt": 20 + i}


def round_trip(message: Any) -> Any:
    """Pack with a MAVLink 2 encoder and decode again: what the UAV will read."""
    mav = event.MAVLink(None, srcSystem=255, srcComponent=0)
    return mav.parse_char(message.pack(mav))


def test_mission_assign_becomes_head_and_items_of_sixteen() -> None:
    items = [waypoint(i) for i in range(20)] + [{"command": "rtl"}]
    parsed = parse_command(
        command("mission_assign", {"mission_id": 7, "items": items, "start": True, "speed": 5.5})
    )
    head, attached = to_messages(parsed)
    head = round_trip(head)
    assert head.get_type() == "EVENT_MISSION_ASSIGN"
    assert (head.seq, head.time, head.mission_id, head.item_count) == (0, 0, 7, 21)
    assert head.flags == event.EVENT_MISSION_FLAGS_START
    assert head.speed == 55
    assert [m.start_index for m in attached] == [0, 16]
    last = round_trip(attached[1])
    assert last.count == 5
    assert last.lat[:4] == [round((-35.36 + i * 1e-4) * 1e7) for i in range(16, 20)]
    assert last.alt[:4] == [360, 370, 380, 390]
    assert last.command[4] == event.EVENT_ITEM_RTL
    assert last.lat[5:] == [0] * (ITEMS_PER_MESSAGE - 5)


def test_mission_abort_defaults_to_whatever_flies() -> None:
    head, attached = to_messages(parse_command(command("mission_abort", {"action": "land"})))
    assert attached == ()
    assert (head.mission_id, head.action, head.seq) == (0, event.EVENT_ABORT_ACTION_LAND, 0)


def test_retask_reposition_and_jump() -> None:
    move = parse_command(
        command("retask", {"lat": 47.5, "lon": 8.25, "alt": 35.5, "loiter_time": 60})
    )
    head = round_trip(to_messages(move)[0])
    assert (head.lat, head.lon, head.alt, head.loiter_time) == (475000000, 82500000, 355, 60)
    assert head.mode == event.EVENT_RETASK_MODE_REPOSITION
    jump = to_messages(parse_command(command("retask", {"mode": "jump", "item": 4})))[0]
    assert (jump.mode, jump.item) == (event.EVENT_RETASK_MODE_JUMP, 4)


def test_param_update_carries_name_type_and_value() -> None:
    update = parse_command(
        command("param_update", {"name": "WPNAV_SPEED", "value": 500, "type": "int16"})
    )
    head = round_trip(to_messages(update)[0])
    assert (head.param_id, head.value, head.param_type) == (
        "WPNAV_SPEED",
        500.0,
        event.MAV_PARAM_TYPE_INT16,
    )


def test_parsed_params_are_normalised_and_read_back_unchanged() -> None:
    parsed = parse_command(command("mission_abort", {"action": "rtl"}, queued_at=5, cursor=9))
    assert parsed.params == {"mission_id": 0, "action": "rtl"}
    assert parse_command(parsed.to_json()) == parsed


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([1, 2], "JSON object"),
        (command("self_destruct", {}), "type must be one of"),
        (command("mission_abort", {"action": "rtl"}, uav=0), "uav"),
        (command("mission_abort", {"action": "rtl"}, uav=255), "uav"),
        (command("mission_abort", {"action": "rtl"}, uav=True), "uav"),
        (command("mission_abort", {"action": "rtl"}, command_id=""), "command_id"),
        (command("mission_abort", {"action": "rtl"}, command_id="a b"), "command_id"),
        (command("mission_abort", {}), "action is required"),
        (command("mission_abort", {"action": "explode"}), "action must be one of"),
        (command("mission_abort", {"action": "rtl", "altitude": 3}), "unknown field"),
        ({"command_id": "c", "uav": 3, "type": "mission_abort", "params": [1]}, "params"),
        (command("retask", {"lat": 91, "lon": 0, "alt": 10}), "lat"),
        (command("retask", {"lat": 0, "lon": -180.5, "alt": 10}), "lon"),
        (command("retask", {"lat": 0, "lon": 0, "alt": 4000}), "alt"),
        (command("retask", {"lat": 0, "lon": 0}), "alt is required"),
        (command("retask", {"lat": 0, "lon": 0, "alt": 1, "item": 3}), "jump"),
        (command("retask", {"mode": "jump", "item": 3, "lat": 1}), "reposition"),
        (command("retask", {"mode": "jump"}), "item is required"),
        (command("retask", {"lat": float("nan"), "lon": 0, "alt": 1}), "lat"),
        (command("mission_assign", {"mission_id": 0, "items": [waypoint(0)]}), "mission_id"),
        (command("mission_assign", {"mission_id": 1, "items": []}), "items"),
        (
            command("mission_assign", {"mission_id": 1, "items": [waypoint(0)] * 256}),
            f"1-{MAX_MISSION_ITEMS}",
        ),
        (command("mission_assign", {"mission_id": 1, "items": [{"lat": 1}]}), r"items\[0\]"),
        (command("mission_assign", {"mission_id": 1, "items": [7]}), r"items\[0\]"),
        (
            command("mission_assign", {"mission_id": 1, "items": [waypoint(0)], "speed": 30}),
            "speed",
        ),
        (
            command("mission_assign", {"mission_id": 1, "items": [waypoint(0)], "start": 1}),
            "start",
        ),
        (command("param_update", {"name": "X" * 17, "value": 1}), "name"),
        (command("param_update", {"name": "A B", "value": 1}), "name"),
        (command("param_update", {"name": "A", "value": 1.5, "type": "int8"}), "integer"),
        (command("param_update", {"name": "A", "value": 300, "type": "uint8"}), "value"),
        (command("param_update", {"name": "A", "value": 2**24 + 1, "type": "int32"}), "exactly"),
        (command("param_update", {"name": "A", "value": 1, "type": "int64"}), "type"),
        (command("param_update", {"name": "A", "value": "1"}), "value"),
    ],
)
def test_malformed_commands_say_what_is_wrong(obj: Any, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_command(obj)


def test_the_constructor_validates_too() -> None:
    with pytest.raises(CommandError, match="uav"):
        Command("c", 999, "mission_abort", {"action": "rtl"})


PARAM_KEYS = [
    "lat",
    "lon",
    "alt",
    "command",
    "param",
    "mission_id",
    "items",
    "action",
    "mode",
    "item",
    "name",
    "value",
    "type",
    "start",
    "speed",
    "x",
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.sampled_from(PARAM_KEYS), inner, max_size=6)
    ),
    max_leaves=30,
)


@given(
    st.fixed_dictionaries(
        {
            "command_id": st.sampled_from(["c-1", "", 5]) | st.text(max_size=5),
            "uav": st.sampled_from([3, 0, 300, "3", None]),
            "type": st.sampled_from([*COMMAND_TYPES, "other", None]),
            "params": JSON,
        }
    )
    | JSON
)
def test_garbage_raises_command_error_only(obj: Any) -> None:
    try:
        parsed = parse_command(obj)
    except CommandError:
        return
    head, attached = to_messages(parsed)  # what parses must also encode
    assert all(len(round_trip(m).get_payload()) <= 255 for m in (head, *attached))


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "lat": st.floats(-90, 90),
                "lon": st.floats(-180, 180),
                "alt": st.floats(-3276.8, 3276.7),
                "command": st.sampled_from(["waypoint", "takeoff", "loiter_time", "land"]),
                "param": st.integers(0, 255),
            }
        ),
        min_size=1,
        max_size=MAX_MISSION_ITEMS,
    ),
    st.integers(1, 2**16 - 1),
)
def test_every_valid_mission_encodes_every_item(items: list[dict[str, Any]], mission: int) -> None:
    parsed = parse_command(command("mission_assign", {"mission_id": mission, "items": items}))
    assert parse_command(parsed.to_json()) == parsed
    head, attached = to_messages(parsed)
    decoded = [round_trip(m) for m in attached]
    assert round_trip(head).item_count == len(items)
    assert sum(m.count for m in decoded) == len(items)
    lats = [lat for m in decoded for lat in m.lat[: m.count]]
    assert lats == [round(item["lat"] * 1e7) for item in items]
