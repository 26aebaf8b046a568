"""The mission download machine, and comparing what was sent with what was read back."""

from __future__ import annotations

from typing import Any

import pytest

from companion.autopilot.mission_protocol import (
    MissionDownload,
    MissionItem,
    first_difference,
)
from dialects import event
from tests.companion.autopilot.fc import (
    TARGET,
    TIMING,
    from_fc,
    mission_ack,
    mission_count,
    mission_item,
    of_type,
    waypoints,
)

HOME = MissionItem(command=event.MAV_CMD_NAV_WAYPOINT, frame=event.MAV_FRAME_GLOBAL)


def mission(count: int) -> list[MissionItem]:
    return [HOME, *waypoints(count)]


def serve(download: MissionDownload, stored: list[MissionItem], now: float = 0.0) -> list[Any]:
    """Answer the download's requests as an autopilot holding `stored` would."""
    sent = download.start(now)
    pending = list(sent)
    while pending:
        request = pending.pop(0)
        kind = request.get_type()
        if kind == "MISSION_REQUEST_LIST":
            answer = mission_count(len(stored))
        elif kind == "MISSION_REQUEST_INT":
            answer = mission_item(request.seq, stored[request.seq])
        else:
            continue
        out = download.receive(from_fc(answer), now)
        sent += out
        pending += out
    return sent


def test_download_reads_every_item_and_acks() -> None:
    stored = mission(3)
    download = MissionDownload(TARGET, TIMING)
    sent = serve(download, stored)
    assert download.result is not None
    assert download.result.ok
    assert download.items == stored
    assert [m.seq for m in of_type(sent, "MISSION_REQUEST_INT")] == [0, 1, 2, 3]
    assert of_type(sent, "MISSION_ACK")[0].type == event.MAV_MISSION_ACCEPTED


def test_download_of_empty_mission() -> None:
    download = MissionDownload(TARGET, TIMING)
    download.start(0.0)
    download.receive(from_fc(mission_count(0)), 0.0)
    assert download.result is not None
    assert download.result.ok
    assert download.items == []


def test_download_accepts_float_mission_item() -> None:
    download = MissionDownload(TARGET, TIMING)
    download.start(0.0)
    download.receive(from_fc(mission_count(1)), 0.0)
    item = mission_item(0, waypoints(1)[0])
    float_item = event.MAVLink_mission_item_message(
        item.target_system, item.target_component, 0, item.frame, item.command, 0, 1,
        0, 0, 0, 0, item.x / 1e7, item.y / 1e7, item.z, 0,
    )  # fmt: skip
    download.receive(from_fc(float_item), 0.0)
    assert download.result is not None
    assert download.result.ok
    assert abs(download.items[0].x - item.x) < 20  # float32 degrees: within ~2 mm here
    assert abs(download.items[0].y - item.y) < 200


def test_download_rerequests_a_lost_item_after_the_item_timeout() -> None:
    download = MissionDownload(TARGET, TIMING)
    download.start(0.0)
    (request,) = download.receive(from_fc(mission_count(2)), 0.0)
    assert download.next_deadline() == pytest.approx(0.25)
    (again,) = download.on_timer(0.25)
    assert (again.get_type(), again.seq) == (request.get_type(), 0)


def test_download_ignores_items_out_of_turn() -> None:
    download = MissionDownload(TARGET, TIMING)
    download.start(0.0)
    download.receive(from_fc(mission_count(2)), 0.0)
    assert download.receive(from_fc(mission_item(1, HOME)), 0.0) == []
    assert download.receive(from_fc(mission_count(2)), 0.0) == []
    assert download.ignored == 2


def test_download_times_out_naming_the_missing_item() -> None:
    download = MissionDownload(TARGET, TIMING)
    download.start(0.0)
    download.receive(from_fc(mission_count(2)), 0.0)
    now = 0.0
    while not download.done:
        now += TIMING.item
        download.on_timer(now)
    assert now == pytest.approx(6 * TIMING.item)
    assert download.result is not None
    assert download.result.outcome == event.EVENT_OUTCOME_TIMEOUT
    assert download.result.reason == "mission download: no item 0"


def test_download_nack_is_rejected() -> None:
    download = MissionDownload(TARGET, TIMING)
    download.start(0.0)
    download.receive(from_fc(mission_ack(event.MAV_MISSION_DENIED)), 0.0)
    assert download.result is not None
    assert download.result.outcome == event.EVENT_OUTCOME_AUTOPILOT_REJECTED
    assert download.result.reason == "MAV_MISSION_DENIED"


def test_download_starts_over_after_a_reboot() -> None:
    download = MissionDownload(TARGET, TIMING)
    download.start(0.0)
    download.receive(from_fc(mission_count(2)), 0.0)
    download.receive(from_fc(mission_item(0, HOME)), 0.0)
    (request_list,) = download.on_reboot(1.0)
    assert request_list.get_type() == "MISSION_REQUEST_LIST"
    assert download.items == []
    assert download.count is None


# -- verification ----------------------------------------------------------------------


def test_read_back_as_ardupilot_stores_it_matches() -> None:
    sent = [
        HOME,
        MissionItem(
            command=event.MAV_CMD_NAV_WAYPOINT,
            frame=event.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
            x=-353632610,
            y=1491652300,
            z=20.004,
            param2=5.0,  # acceptance radius: Copter does not keep it
        ),
        MissionItem(
            command=event.MAV_CMD_DO_CHANGE_SPEED,
            frame=event.MAV_FRAME_MISSION,
            param1=1,
            param2=7.5,
            param3=-1,
        ),
    ]
    stored = [
        MissionItem(command=event.MAV_CMD_NAV_WAYPOINT, x=1, y=2, z=584.0),  # its own home
        MissionItem(
            command=event.MAV_CMD_NAV_WAYPOINT,
            frame=event.MAV_FRAME_GLOBAL_RELATIVE_ALT,
            x=-353632610,
            y=1491652300,
            z=20.0,
        ),
        MissionItem(command=event.MAV_CMD_DO_CHANGE_SPEED, frame=0, param1=1, param2=7.5),
    ]
    assert first_difference(sent, stored) is None


def test_an_rtl_item_reads_back_without_its_frame_or_position() -> None:
    """ArduPilot keeps no location for RTL (`AP_Mission::stored_in_location`): SITL 4.7
    returns it with frame GLOBAL and zeros, whatever frame it was sent in."""
    sent = [HOME, MissionItem(command=event.MAV_CMD_NAV_RETURN_TO_LAUNCH)]
    assert sent[1].frame == event.MAV_FRAME_GLOBAL_RELATIVE_ALT
    stored = [HOME, MissionItem(command=event.MAV_CMD_NAV_RETURN_TO_LAUNCH, frame=0)]
    assert first_difference(sent, stored) is None
    stored_land = [HOME, MissionItem(command=event.MAV_CMD_NAV_LAND, frame=0)]
    assert first_difference([HOME, MissionItem(command=event.MAV_CMD_NAV_LAND)], stored_land), (
        "a landing keeps its location, and its frame is compared"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"x": -353632611},
        {"y": 1491652301},
        {"z": 20.5},
        {"command": event.MAV_CMD_NAV_LAND},
        {"frame": event.MAV_FRAME_GLOBAL},
        {"param1": 3.0},
    ],
)
def test_read_back_that_differs_is_reported(change: dict[str, Any]) -> None:
    sent = [HOME, *waypoints(2)]
    fields = {
        "command": sent[2].command,
        "frame": sent[2].frame,
        "x": sent[2].x,
        "y": sent[2].y,
        "z": sent[2].z,
        "param1": sent[2].param1,
    }
    stored = [HOME, sent[1], MissionItem(**(fields | change))]
    assert first_difference(sent, stored) == "read back differs at item 2"


def test_read_back_of_another_length_is_reported() -> None:
    sent = [HOME, *waypoints(2)]
    assert first_difference(sent, sent[:2]) == "read back 2 items, sent 3"
