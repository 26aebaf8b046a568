"""The sans-IO connection: heartbeats, message rates, filtering, link events and operations."""

from __future__ import annotations

from typing import Any

import pytest

from companion.autopilot.commands import ModeChange
from companion.autopilot.connection import AutopilotConnection, ConnectionConfig
from companion.autopilot.stream_rates import DEFAULT_RATES, FALLBACK_STREAMS, StreamRates
from companion.autopilot.vehicle_state import LinkEventKind
from companion.link.drops import Drop
from dialects import event
from tests.companion.autopilot.fc import (
    GUIDED,
    STABILIZE,
    TARGET,
    TIMING,
    US,
    US_COMPONENT,
    command_ack,
    frame_from_fc,
    from_fc,
    global_position,
    heartbeat,
)

INTERVAL = event.MAV_CMD_SET_MESSAGE_INTERVAL


def decoded(frames: list[bytes]) -> list[Any]:
    parser = event.MAVLink(None)
    return [parser.decode(bytearray(frame)) for frame in frames]


def connection() -> AutopilotConnection:
    return AutopilotConnection(ConnectionConfig(system_id=US))


def test_sends_our_heartbeat_every_second_as_onboard_computer() -> None:
    conn = connection()
    assert conn.next_deadline() == float("-inf")
    conn.on_timer(100.0)
    (hb,) = decoded(conn.frames_to_send())
    assert (hb.get_type(), hb.type, hb.autopilot) == (
        "HEARTBEAT",
        event.MAV_TYPE_ONBOARD_CONTROLLER,
        event.MAV_AUTOPILOT_INVALID,
    )
    assert (hb.get_srcSystem(), hb.get_srcComponent()) == (US, US_COMPONENT)
    assert conn.next_deadline() == 101.0
    conn.on_timer(100.5)
    assert conn.frames_to_send() == []


def test_connecting_requests_the_message_rates_one_at_a_time() -> None:
    conn = connection()
    frames = conn.receive_data(frame_from_fc(heartbeat()), 0.0)
    assert len(frames) == 1
    change = conn.next_event()
    assert change is not None
    assert change.kind is LinkEventKind.CONNECTED
    (request,) = decoded(conn.frames_to_send())
    first_id, first_hz = next(iter(DEFAULT_RATES.items()))
    assert (request.command, request.param1, request.param2) == (
        INTERVAL,
        first_id,
        pytest.approx(1e6 / first_hz),
    )
    conn.receive_data(frame_from_fc(command_ack(INTERVAL)), 0.1)
    (second,) = decoded(conn.frames_to_send())
    assert second.param1 == list(DEFAULT_RATES)[1]


def test_rates_fall_back_to_request_data_stream_when_unsupported() -> None:
    rates = StreamRates(TARGET, TIMING)
    rates.start(0.0)
    sent = rates.receive(from_fc(command_ack(INTERVAL, event.MAV_RESULT_UNSUPPORTED)), 0.1)
    assert [(m.get_type(), m.req_stream_id, m.req_message_rate) for m in sent] == [
        ("REQUEST_DATA_STREAM", stream, hz) for stream, hz in FALLBACK_STREAMS.items()
    ]
    assert rates.fell_back
    assert rates.done


def test_rates_fall_back_when_the_first_request_is_never_answered() -> None:
    rates = StreamRates(TARGET, TIMING)
    rates.start(0.0)
    now = 0.0
    sent: list[Any] = []
    while not rates.done:
        now += TIMING.response
        sent = rates.on_timer(now)
    assert rates.fell_back
    assert {m.get_type() for m in sent} == {"REQUEST_DATA_STREAM"}


def test_a_message_the_vehicle_cannot_send_is_skipped() -> None:
    rates = StreamRates(TARGET, TIMING, {33: 4.0, 242: 0.2, 1: 1.0})
    rates.start(0.0)
    rates.receive(from_fc(command_ack(INTERVAL)), 0.1)
    rates.receive(from_fc(command_ack(INTERVAL, event.MAV_RESULT_FAILED)), 0.2)
    rates.receive(from_fc(command_ack(INTERVAL)), 0.3)
    assert (rates.confirmed, rates.refused, rates.fell_back) == ([33, 1], [242], False)
    assert rates.result is not None
    assert rates.result.ok


def test_operation_while_disconnected_is_unavailable_at_once() -> None:
    conn = connection()
    change = ModeChange(TARGET, TIMING, GUIDED, "GUIDED")
    conn.start(change, 0.0)
    assert change.result is not None
    assert change.result.outcome == event.EVENT_OUTCOME_AUTOPILOT_UNAVAILABLE
    assert conn.frames_to_send() == []


def test_acks_addressed_to_another_gcs_are_not_ours() -> None:
    conn = connection()
    conn.receive_data(frame_from_fc(heartbeat()), 0.0)
    change = ModeChange(TARGET, TIMING, GUIDED, "GUIDED")
    conn.start(change, 0.0)
    to_gcs = event.MAVLink_command_ack_message(
        event.MAV_CMD_DO_SET_MODE, event.MAV_RESULT_DENIED, 0, 0, 255, 190
    )
    conn.receive_data(frame_from_fc(to_gcs), 0.1)
    assert not change.done
    assert conn.counters["not_addressed_to_us"] == 1
    conn.receive_data(frame_from_fc(command_ack(event.MAV_CMD_DO_SET_MODE)), 0.2)
    conn.receive_data(frame_from_fc(heartbeat(GUIDED)), 0.5)
    assert change.result is not None
    assert change.result.ok


def test_operations_outlive_a_short_link_loss_and_restore_asks_for_rates_again() -> None:
    conn = connection()
    conn.receive_data(frame_from_fc(heartbeat(STABILIZE)), 0.0)
    conn.frames_to_send()
    change = ModeChange(TARGET, TIMING, GUIDED, "GUIDED")
    conn.start(change, 0.0)
    conn.on_timer(1.5)  # the command was lost: resent
    conn.on_timer(5.0)  # no HEARTBEAT for 5 s
    assert not conn.state.connected
    assert not change.done
    assert not change.link_up
    conn.frames_to_send()
    conn.receive_data(frame_from_fc(heartbeat()), 6.0)
    assert change.link_up
    kinds = []
    while (change_event := conn.next_event()) is not None:
        kinds.append(change_event.kind)
    assert kinds == [LinkEventKind.CONNECTED, LinkEventKind.LOST, LinkEventKind.RESTORED]
    sent = decoded(conn.frames_to_send())
    assert [(m.get_type(), m.command) for m in sent] == [("COMMAND_LONG", INTERVAL)]
    conn.receive_data(frame_from_fc(command_ack(event.MAV_CMD_DO_SET_MODE)), 6.1)
    conn.receive_data(frame_from_fc(heartbeat(GUIDED)), 7.0)
    assert change.result is not None
    assert change.result.ok


def test_operation_that_times_out_while_the_link_is_down_is_unavailable() -> None:
    conn = connection()
    conn.receive_data(frame_from_fc(heartbeat(STABILIZE)), 0.0)
    change = ModeChange(TARGET, TIMING, GUIDED, "GUIDED")
    conn.start(change, 0.0)
    now = 0.0
    while not change.done:
        now = max(now, conn.next_deadline())  # the first deadline is "now": -inf
        conn.on_timer(now)
    assert now == 9.0
    assert change.result is not None
    assert change.result.outcome == event.EVENT_OUTCOME_AUTOPILOT_UNAVAILABLE
    assert change.result.reason == "mode GUIDED: autopilot link lost"


def test_reboot_is_passed_to_operations() -> None:
    conn = connection()
    conn.receive_data(frame_from_fc(heartbeat()), 0.0)
    conn.receive_data(frame_from_fc(global_position(time_boot_ms=90_000)), 0.1)
    change = ModeChange(TARGET, TIMING, GUIDED, "GUIDED")
    conn.start(change, 0.2)
    conn.receive_data(frame_from_fc(global_position(time_boot_ms=800)), 3.0)
    assert change.result is None, "one message alone is no reboot"
    conn.receive_data(frame_from_fc(global_position(time_boot_ms=1_000)), 3.2)
    assert change.result is not None
    assert change.result.reason == "mode GUIDED: autopilot rebooted"


def test_garbage_and_partial_frames_are_survived() -> None:
    conn = connection()
    frame = frame_from_fc(heartbeat())
    assert conn.receive_data(b"\x00garbage\xfe\x09MAVLink1" + frame[:5], 0.0) == []
    assert conn.receive_data(frame[5:], 0.0) == [frame]
    assert conn.state.connected
    # A frame cut short stays pending until the stream goes quiet, then is dropped.
    assert conn.receive_data(frame[:7], 0.1) == []
    assert conn.receive_idle(0.4) == []
    assert conn.link.drops[Drop.TRUNCATED] == 1
    assert conn.link.skipped_bytes > 0


def test_cancel_of_an_operation_sends_what_it_asks_for() -> None:
    conn = connection()
    conn.receive_data(frame_from_fc(heartbeat()), 0.0)
    conn.frames_to_send()
    change = ModeChange(TARGET, TIMING, GUIDED, "GUIDED")
    conn.start(change, 0.0)
    conn.frames_to_send()
    conn.cancel(change, 0.5)
    assert change.result is not None
    assert change.result.reason == "mode GUIDED: cancelled"
    assert conn.frames_to_send() == []
