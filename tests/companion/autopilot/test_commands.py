"""Commands fed COMMAND_ACK, HEARTBEAT, STATUSTEXT and time: acks are not effects."""

from __future__ import annotations

import pytest

from companion.autopilot.commands import (
    Arm,
    CommandRequest,
    ModeChange,
    SetCurrentItem,
    Takeoff,
    arming_refusal,
)
from companion.autopilot.operation import Operation
from dialects import event
from tests.companion.autopilot.fc import (
    GUIDED,
    LOITER,
    STABILIZE,
    TARGET,
    TIMING,
    command_ack,
    from_fc,
    global_position,
    heartbeat,
    mission_current,
    statustext,
)

DO_SET_MODE = event.MAV_CMD_DO_SET_MODE
ARM = event.MAV_CMD_COMPONENT_ARM_DISARM


def run_out(op: Operation, now: float = 0.0) -> float:
    """Fire the operation's timers until it ends; the time it ended."""
    while not op.done:
        deadline = op.next_deadline()
        assert deadline is not None
        now = deadline
        op.on_timer(now)
    return now


def test_command_long_resends_with_confirmation_counting_up_then_times_out() -> None:
    command = CommandRequest(TARGET, TIMING, 511, [33, 250000, 0, 0, 0, 0, 0], label="interval")
    (first,) = command.start(0.0)
    assert (first.get_type(), first.command, first.confirmation) == ("COMMAND_LONG", 511, 0)
    assert (first.param1, first.param2) == (33, 250000)
    confirmations = []
    now = 0.0
    while not command.done:
        now += TIMING.response
        confirmations += [m.confirmation for m in command.on_timer(now)]
    assert confirmations == [1, 2, 3, 4, 5]
    assert now == pytest.approx(9.0)
    assert command.result is not None
    assert command.result.outcome == event.EVENT_OUTCOME_TIMEOUT
    assert command.result.reason == "interval: no COMMAND_ACK"


def test_command_int_carries_position_in_degE7() -> None:
    params = [-1, 1, 0, 0, -353632610, 1491652300, 30.0]
    frame = event.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
    command = CommandRequest(TARGET, TIMING, 192, params, label="reposition", frame=frame)
    (message,) = command.start(0.0)
    assert message.get_type() == "COMMAND_INT"
    assert (message.x, message.y, message.z, message.frame) == (-353632610, 1491652300, 30, frame)


def test_ack_for_another_command_is_not_ours() -> None:
    command = CommandRequest(TARGET, TIMING, 511, [0] * 7, label="interval")
    command.start(0.0)
    command.receive(from_fc(command_ack(400)), 0.0)
    assert not command.done
    command.receive(from_fc(command_ack(511)), 0.0)
    assert command.result is not None
    assert command.result.ok


def test_in_progress_restarts_the_wait() -> None:
    command = CommandRequest(TARGET, TIMING, 511, [0] * 7, label="interval")
    command.start(0.0)
    command.receive(from_fc(command_ack(511, event.MAV_RESULT_IN_PROGRESS)), 1.0)
    assert command.next_deadline() == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("result", "name"),
    [
        (event.MAV_RESULT_DENIED, "MAV_RESULT_DENIED"),
        (event.MAV_RESULT_FAILED, "MAV_RESULT_FAILED"),
        (event.MAV_RESULT_UNSUPPORTED, "MAV_RESULT_UNSUPPORTED"),
        (event.MAV_RESULT_TEMPORARILY_REJECTED, "MAV_RESULT_TEMPORARILY_REJECTED"),
    ],
)
def test_refusal_is_rejected_with_the_mav_result_name(result: int, name: str) -> None:
    command = CommandRequest(TARGET, TIMING, 511, [0] * 7, label="interval")
    command.start(0.0)
    command.receive(from_fc(command_ack(511, result)), 0.0)
    assert command.result is not None
    assert command.result.outcome == event.EVENT_OUTCOME_AUTOPILOT_REJECTED
    assert command.result.reason == f"interval: {name}"


# -- mode change -----------------------------------------------------------------------


def test_mode_change_is_done_when_heartbeat_shows_the_mode() -> None:
    change = ModeChange(TARGET, TIMING, GUIDED, "GUIDED")
    (message,) = change.start(0.0)
    assert (message.command, message.param1, message.param2) == (DO_SET_MODE, 1, GUIDED)
    change.receive(from_fc(command_ack(DO_SET_MODE)), 0.1)
    assert not change.done  # an ACK is not the mode
    change.receive(from_fc(heartbeat(STABILIZE)), 0.5)  # sent before the change
    assert not change.done
    change.receive(from_fc(heartbeat(GUIDED)), 1.0)
    assert change.result is not None
    assert change.result.ok
    assert change.result.reason == "mode GUIDED"


def test_mode_seen_in_heartbeat_counts_even_if_the_ack_was_lost() -> None:
    change = ModeChange(TARGET, TIMING, GUIDED, "GUIDED")
    change.start(0.0)
    change.receive(from_fc(heartbeat(GUIDED)), 1.0)
    assert change.result is not None
    assert change.result.ok


def test_mode_overridden_by_the_autopilot_is_reported_not_fought() -> None:
    change = ModeChange(TARGET, TIMING, GUIDED, "GUIDED")
    change.start(0.0)
    change.receive(from_fc(command_ack(DO_SET_MODE)), 0.1)
    sent = []
    for second in range(1, 4):  # the RC mode switch put it in LOITER
        sent += change.receive(from_fc(heartbeat(LOITER)), float(second))
    sent += change.on_timer(3.1)
    assert sent == []
    assert change.result is not None
    assert change.result.outcome == event.EVENT_OUTCOME_FAILED
    assert change.result.reason == "mode is LOITER, not GUIDED"


def test_mode_change_without_heartbeat_times_out() -> None:
    change = ModeChange(TARGET, TIMING, GUIDED, "GUIDED")
    change.start(0.0)
    change.receive(from_fc(command_ack(DO_SET_MODE)), 0.1)
    assert run_out(change) == pytest.approx(3.1)
    assert change.result is not None
    assert change.result.outcome == event.EVENT_OUTCOME_TIMEOUT
    assert change.result.reason == "mode GUIDED not seen in HEARTBEAT"


# -- arming ----------------------------------------------------------------------------


def test_arming_is_done_when_heartbeat_shows_armed() -> None:
    arm = Arm(TARGET, TIMING)
    (message,) = arm.start(0.0)
    assert (message.command, message.param1) == (ARM, 1)
    arm.receive(from_fc(command_ack(ARM)), 0.1)
    arm.receive(from_fc(heartbeat(GUIDED)), 0.5)
    assert not arm.done
    arm.receive(from_fc(heartbeat(GUIDED, armed=True)), 1.0)
    assert arm.result is not None
    assert arm.result.ok


def test_refused_arming_waits_for_the_statustext_that_explains_it() -> None:
    arm = Arm(TARGET, TIMING)
    arm.start(0.0)
    arm.receive(from_fc(command_ack(ARM, event.MAV_RESULT_FAILED)), 0.1)
    assert not arm.done
    assert arm.next_deadline() == pytest.approx(0.6)
    arm.receive(from_fc(statustext("Arm: Need Alt Estimate")), 0.2)
    assert arm.result is not None
    assert arm.result.outcome == event.EVENT_OUTCOME_NOT_ARMABLE
    assert arm.result.reason == "Arm: Need Alt Estimate"


def test_refusal_text_that_came_before_the_ack_is_used() -> None:
    arm = Arm(TARGET, TIMING)
    arm.start(0.0)
    arm.receive(from_fc(statustext("PreArm: Accels inconsistent")), 0.05)
    arm.receive(from_fc(command_ack(ARM, event.MAV_RESULT_FAILED)), 0.1)
    assert run_out(arm, 0.1) == pytest.approx(0.6)
    assert arm.result is not None
    assert arm.result.reason == "PreArm: Accels inconsistent"


def test_refusal_without_a_statustext_names_the_result() -> None:
    arm = Arm(TARGET, TIMING)
    arm.start(0.0)
    arm.receive(from_fc(command_ack(ARM, event.MAV_RESULT_DENIED)), 0.1)
    run_out(arm, 0.1)
    assert arm.result is not None
    assert arm.result.outcome == event.EVENT_OUTCOME_NOT_ARMABLE
    assert arm.result.reason == "arming refused: MAV_RESULT_DENIED"


@pytest.mark.parametrize(
    ("texts", "outcome", "reason"),
    [
        (["PreArm: GPS 1: Bad fix"], event.EVENT_OUTCOME_NO_GPS_FIX, "PreArm: GPS 1: Bad fix"),
        (
            ["PreArm: Need Position Estimate"],
            event.EVENT_OUTCOME_NO_GPS_FIX,
            "PreArm: Need Position Estimate",
        ),
        (
            ["Arm: Need Alt Estimate", "EKF3 IMU0 initialised"],
            event.EVENT_OUTCOME_NOT_ARMABLE,
            "Arm: Need Alt Estimate",
        ),
        (["Throttle too high"], event.EVENT_OUTCOME_NOT_ARMABLE, "Throttle too high"),
    ],
)
def test_arming_refusal_classification(texts: list[str], outcome: int, reason: str) -> None:
    result = arming_refusal(texts, event.MAV_RESULT_FAILED)
    assert (result.outcome, result.reason) == (outcome, reason)


def test_reason_is_cut_to_the_ack_field() -> None:
    long = "PreArm: " + "x" * 80
    assert arming_refusal([long], event.MAV_RESULT_FAILED).reason == long[:50]


# -- takeoff ---------------------------------------------------------------------------


def test_takeoff_is_done_near_the_altitude() -> None:
    takeoff = Takeoff(TARGET, TIMING, 20.0)
    (message,) = takeoff.start(0.0)
    assert (message.command, message.param7) == (event.MAV_CMD_NAV_TAKEOFF, 20.0)
    takeoff.receive(from_fc(command_ack(event.MAV_CMD_NAV_TAKEOFF)), 0.1)
    takeoff.receive(from_fc(global_position(rel_alt=17.9)), 5.0)
    assert not takeoff.done
    takeoff.receive(from_fc(global_position(rel_alt=18.1)), 6.0)
    assert takeoff.result is not None
    assert takeoff.result.ok


def test_climb_counts_even_if_the_ack_was_lost() -> None:
    takeoff = Takeoff(TARGET, TIMING, 20.0)
    takeoff.start(0.0)
    takeoff.receive(from_fc(global_position(rel_alt=19.0)), 1.0)
    assert takeoff.result is not None
    assert takeoff.result.ok


def test_disarming_during_takeoff_fails_it() -> None:
    takeoff = Takeoff(TARGET, TIMING, 20.0)
    takeoff.start(0.0)
    takeoff.receive(from_fc(command_ack(event.MAV_CMD_NAV_TAKEOFF)), 0.1)
    takeoff.receive(from_fc(heartbeat(GUIDED, armed=False)), 1.0)
    assert takeoff.result is not None
    assert takeoff.result.reason == "disarmed during takeoff"


def test_takeoff_that_does_not_climb_times_out() -> None:
    takeoff = Takeoff(TARGET, TIMING, 20.0)
    takeoff.start(0.0)
    takeoff.receive(from_fc(command_ack(event.MAV_CMD_NAV_TAKEOFF)), 0.0)
    assert run_out(takeoff) == pytest.approx(20.0 / 0.5 + 10.0)
    assert takeoff.result is not None
    assert takeoff.result.outcome == event.EVENT_OUTCOME_TIMEOUT


# -- current mission item --------------------------------------------------------------


def test_set_current_is_confirmed_by_mission_current() -> None:
    jump = SetCurrentItem(TARGET, TIMING, 5)
    (message,) = jump.start(0.0)
    assert (message.get_type(), message.seq) == ("MISSION_SET_CURRENT", 5)
    jump.receive(from_fc(mission_current(4)), 0.5)
    assert not jump.done
    jump.receive(from_fc(mission_current(5)), 0.6)
    assert jump.result is not None
    assert jump.result.ok


def test_set_current_that_does_not_take_is_rejected() -> None:
    jump = SetCurrentItem(TARGET, TIMING, 5)
    jump.start(0.0)
    now = 0.0
    while not jump.done:
        jump.receive(from_fc(mission_current(4)), now)
        now += TIMING.response
        for message in jump.on_timer(now):
            assert message.seq == 5
    assert jump.result is not None
    assert jump.result.outcome == event.EVENT_OUTCOME_AUTOPILOT_REJECTED
    assert jump.result.reason == "jump to item 5: current item stayed 4"


def test_set_current_with_no_answer_times_out() -> None:
    jump = SetCurrentItem(TARGET, TIMING, 5)
    jump.start(0.0)
    assert run_out(jump) == pytest.approx(9.0)
    assert jump.result is not None
    assert jump.result.outcome == event.EVENT_OUTCOME_TIMEOUT
