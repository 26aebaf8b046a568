"""The mission upload machine fed pymavlink messages and time."""

from __future__ import annotations

from typing import Any

import pytest

from companion.autopilot.mission_protocol import (
    MAX_RESTARTS,
    MissionItem,
    MissionUpload,
)
from companion.autopilot.operation import Timing
from dialects import event
from tests.companion.autopilot.fc import (
    TARGET,
    TIMING,
    from_fc,
    mission_ack,
    mission_request,
    of_type,
    waypoints,
)

HOME = MissionItem(command=event.MAV_CMD_NAV_WAYPOINT, frame=event.MAV_FRAME_GLOBAL)


def mission(count: int) -> list[MissionItem]:
    return [HOME, *waypoints(count)]


def upload_all(upload: MissionUpload, now: float = 0.0) -> list[Any]:
    """Request every item in order, as the autopilot does; return what was sent."""
    sent = []
    for seq in range(len(upload.items)):
        sent += upload.receive(from_fc(mission_request(seq)), now)
    return sent


def test_upload_answers_each_request_and_completes_on_accepted() -> None:
    items = mission(3)
    upload = MissionUpload(TARGET, TIMING, items)
    (count,) = upload.start(0.0)
    assert count.get_type() == "MISSION_COUNT"
    assert (count.count, count.target_system, count.target_component) == (4, 1, 1)
    sent = upload_all(upload)
    assert [m.seq for m in of_type(sent, "MISSION_ITEM_INT")] == [0, 1, 2, 3]
    assert [MissionItem.from_message(m) for m in sent] == items
    assert upload.all_sent
    assert not upload.done
    upload.receive(from_fc(mission_ack()), 0.0)
    assert upload.result is not None
    assert upload.result.ok
    assert upload.next_deadline() is None


def test_upload_answers_mission_request_with_mission_item_int() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(1))
    upload.start(0.0)
    (item,) = upload.receive(from_fc(mission_request(1, as_int=False)), 0.0)
    assert item.get_type() == "MISSION_ITEM_INT"
    assert (item.seq, item.x) == (1, waypoints(1)[0].x)


def test_duplicate_and_out_of_order_requests_are_answered() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(3))
    upload.start(0.0)
    order = [0, 1, 1, 3, 2, 0]
    sent = [m for seq in order for m in upload.receive(from_fc(mission_request(seq)), 0.0)]
    assert [m.seq for m in sent] == order
    assert upload.duplicate_requests == 2
    assert upload.all_sent


def test_request_out_of_range_is_ignored_and_counted() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(2))
    upload.start(0.0)
    assert upload.receive(from_fc(mission_request(3)), 0.0) == []
    assert upload.ignored == 1


def test_requests_for_fence_or_rally_items_are_not_ours() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(2))
    upload.start(0.0)
    fence = event.MAV_MISSION_TYPE_FENCE
    assert upload.receive(from_fc(mission_request(0, mission_type=fence)), 0.0) == []
    upload.receive(from_fc(mission_ack(event.MAV_MISSION_ERROR, mission_type=fence)), 0.0)
    assert not upload.done


def test_silent_autopilot_gets_the_count_five_more_times_then_timeout() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(2))
    upload.start(0.0)
    resent_at = []
    while not upload.done:
        deadline = upload.next_deadline()
        assert deadline is not None
        for message in upload.on_timer(deadline):
            assert message.get_type() == "MISSION_COUNT"
            resent_at.append(deadline)
    assert resent_at == pytest.approx([1.5, 3.0, 4.5, 6.0, 7.5])
    assert upload.result is not None
    assert upload.result.outcome == event.EVENT_OUTCOME_TIMEOUT
    assert upload.result.reason == "mission upload: no MISSION_COUNT answer"


def test_slowdown_multiplies_the_timeouts() -> None:
    upload = MissionUpload(TARGET, Timing(slowdown=4.0), mission(2))
    upload.start(10.0)
    assert upload.next_deadline() == pytest.approx(16.0)
    assert upload.on_timer(15.9) == []
    assert [m.get_type() for m in upload.on_timer(16.0)] == ["MISSION_COUNT"]


def test_each_request_restarts_the_retry_count() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(3))
    upload.start(0.0)
    now = 0.0
    for seq in range(3):
        upload.receive(from_fc(mission_request(seq)), now)
        for _ in range(TIMING.retries):  # the item is lost each time, then re-requested
            now += TIMING.response
            (resent,) = upload.on_timer(now)
            assert resent.seq == seq
    assert not upload.done
    assert upload.resends == 3 * TIMING.retries


def test_timeout_after_last_item_resends_it_and_names_what_was_missing() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(1))
    upload.start(0.0)
    upload_all(upload)
    now = 0.0
    while not upload.done:
        now += TIMING.response
        for message in upload.on_timer(now):
            assert (message.get_type(), message.seq) == ("MISSION_ITEM_INT", 1)
    assert upload.result is not None
    assert upload.result.reason == "mission upload: no next request"
    assert upload.all_sent  # the caller reads the mission back to find out


def test_invalid_sequence_nack_does_not_end_the_upload() -> None:
    # ArduPilot sends MAV_MISSION_INVALID_SEQUENCE for a duplicate item and goes on.
    upload = MissionUpload(TARGET, TIMING, mission(2))
    upload.start(0.0)
    upload.receive(from_fc(mission_request(0)), 0.0)
    upload.receive(from_fc(mission_ack(event.MAV_MISSION_INVALID_SEQUENCE)), 0.0)
    assert not upload.done
    upload_all(upload)
    upload.receive(from_fc(mission_ack()), 0.0)
    assert upload.result is not None
    assert upload.result.ok


@pytest.mark.parametrize(
    ("result", "name"),
    [
        (event.MAV_MISSION_NO_SPACE, "MAV_MISSION_NO_SPACE"),
        (event.MAV_MISSION_DENIED, "MAV_MISSION_DENIED"),
        (event.MAV_MISSION_UNSUPPORTED, "MAV_MISSION_UNSUPPORTED"),
    ],
)
def test_nack_ends_the_upload_as_rejected_with_its_name(result: int, name: str) -> None:
    upload = MissionUpload(TARGET, TIMING, mission(2))
    upload.start(0.0)
    upload.receive(from_fc(mission_request(0)), 0.0)
    upload.receive(from_fc(mission_ack(result)), 0.0)
    assert upload.result is not None
    assert upload.result.outcome == event.EVENT_OUTCOME_AUTOPILOT_REJECTED
    assert upload.result.reason == name
    assert upload.receive(from_fc(mission_request(1)), 0.0) == []


def test_accepted_before_the_last_item_is_a_stale_ack() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(2))
    upload.start(0.0)
    upload.receive(from_fc(mission_request(0)), 0.0)
    upload.receive(from_fc(mission_ack()), 0.0)
    assert not upload.done
    assert upload.ignored == 1


def test_reboot_mid_upload_starts_over_from_the_count() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(3))
    upload.start(0.0)
    for seq in range(2):
        upload.receive(from_fc(mission_request(seq)), 0.0)
    (count,) = upload.on_reboot(5.0)
    assert count.get_type() == "MISSION_COUNT"
    assert upload.next_deadline() == pytest.approx(6.5)
    assert upload.restarts == 1
    sent = upload_all(upload, 6.0)
    assert [m.seq for m in sent] == [0, 1, 2, 3]
    upload.receive(from_fc(mission_ack()), 6.0)
    assert upload.result is not None
    assert upload.result.ok


def test_autopilot_that_keeps_rebooting_fails_the_upload() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(3))
    upload.start(0.0)
    for _ in range(MAX_RESTARTS):
        assert upload.on_reboot(1.0)
    assert upload.on_reboot(2.0) == []
    assert upload.result is not None
    assert upload.result.outcome == event.EVENT_OUTCOME_FAILED
    assert upload.result.reason == "mission upload: autopilot kept rebooting"


def test_cancel_tells_the_autopilot() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(3))
    upload.start(0.0)
    (ack,) = upload.cancel(1.0)
    assert (ack.get_type(), ack.type) == ("MISSION_ACK", event.MAV_MISSION_OPERATION_CANCELLED)
    assert upload.result is not None
    assert upload.result.reason == "mission upload: cancelled"
    assert upload.cancel(2.0) == []


@pytest.mark.parametrize(
    ("result", "name"),
    [
        (event.MAV_MISSION_OPERATION_CANCELLED, "MAV_MISSION_OPERATION_CANCELLED"),
        (event.MAV_MISSION_ERROR, "MAV_MISSION_ERROR"),
    ],
)
def test_autopilot_that_lost_the_transfer_gets_it_restarted(result: int, name: str) -> None:
    upload = MissionUpload(TARGET, TIMING, mission(3))
    upload.start(0.0)
    lost = from_fc(mission_ack(result))
    for restart in range(1, MAX_RESTARTS + 1):
        upload.receive(from_fc(mission_request(0)), 8.0 * restart)
        (count,) = upload.receive(lost, 8.0 * restart + 1)
        assert count.get_type() == "MISSION_COUNT"
        assert upload.restarts == restart
    upload.receive(lost, 40.0)
    assert upload.result is not None
    assert upload.result.outcome == event.EVENT_OUTCOME_AUTOPILOT_REJECTED
    assert upload.result.reason == name


def test_error_after_the_last_item_is_left_to_the_read_back() -> None:
    # The ACCEPTED was lost; our resent last item reaches an autopilot that had finished.
    upload = MissionUpload(TARGET, TIMING, mission(2))
    upload.start(0.0)
    upload_all(upload)
    (resent,) = upload.on_timer(1.5)
    assert resent.seq == 2
    assert upload.receive(from_fc(mission_ack(event.MAV_MISSION_ERROR)), 1.6) == []
    assert upload.result is not None
    assert upload.result.reason == "MAV_MISSION_ERROR"
    assert upload.all_sent
    assert upload.restarts == 0


def test_timeout_while_the_link_is_down_is_unavailable() -> None:
    upload = MissionUpload(TARGET, TIMING, mission(3))
    upload.start(0.0)
    upload.link_up = False
    now = 0.0
    while not upload.done:
        now += TIMING.response
        upload.on_timer(now)
    assert upload.result is not None
    assert upload.result.outcome == event.EVENT_OUTCOME_AUTOPILOT_UNAVAILABLE
    assert upload.result.reason == "mission upload: autopilot link lost"


def test_an_upload_needs_the_home_item() -> None:
    with pytest.raises(ValueError, match="home"):
        MissionUpload(TARGET, TIMING, [])
