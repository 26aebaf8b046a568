"""The trio drivers: the double on a real TCP socket, spoken to by pymavlink's own
`mavutil` client (one client at a time like SITL's port 5760, the vehicle keeping its
state between clients; real time, every wait a bounded `recv_match`), and `run_double`
ending when the companion hangs up."""

from __future__ import annotations

import time
from typing import Any

import trio
import trio.testing
from pymavlink import mavutil

from dialects import event
from sitl.vehicle.double import VehicleDouble
from sitl.vehicle.serve import run_double, serve_tcp

from . import HOME

WAIT = 10.0
"""Seconds any one answer may take on a loaded machine."""


def _answer(connection: Any, kind: str, **where: Any) -> Any:
    def matches(message: Any) -> bool:
        return all(getattr(message, name) == value for name, value in where.items())

    deadline = time.monotonic() + WAIT
    while (left := deadline - time.monotonic()) > 0:
        message = connection.recv_match(type=kind, blocking=True, timeout=left)
        if message is not None and matches(message):
            return message
    raise AssertionError(f"no {kind} {where} within {WAIT} s")


def first_client(port: int) -> list[int]:
    """Set a parameter, upload a two-item mission; return the MISSION_REQUEST_INT seqs."""
    connection = mavutil.mavlink_connection(
        f"tcp:127.0.0.1:{port}", source_system=255, source_component=190
    )
    try:
        heartbeat = connection.wait_heartbeat(timeout=WAIT)
        assert heartbeat is not None
        assert heartbeat.autopilot == event.MAV_AUTOPILOT_ARDUPILOTMEGA
        connection.mav.param_set_send(1, 1, b"RTL_ALT", 2500, event.MAV_PARAM_TYPE_INT32)
        assert _answer(connection, "PARAM_VALUE", param_id="RTL_ALT").param_value == 2500
        items = [
            (0, event.MAV_FRAME_GLOBAL, event.MAV_CMD_NAV_WAYPOINT, HOME[2]),
            (1, event.MAV_FRAME_GLOBAL_RELATIVE_ALT, event.MAV_CMD_NAV_TAKEOFF, 20.0),
        ]
        connection.mav.mission_count_send(1, 1, len(items), 0)
        requested = []
        for seq, frame, command, alt in items:
            request = _answer(connection, "MISSION_REQUEST_INT", seq=seq)
            requested.append(request.seq)
            connection.mav.mission_item_int_send(
                1, 1, seq, frame, command, 0, 1, 0, 0, 0, 0,
                round(HOME[0] * 1e7), round(HOME[1] * 1e7), alt, 0,
            )  # fmt: skip
        assert _answer(connection, "MISSION_ACK").type == event.MAV_MISSION_ACCEPTED
        return requested
    finally:
        connection.close()


def second_client(port: int) -> tuple[float, int]:
    """Read back the parameter and the mission count set by the first client."""
    connection = mavutil.mavlink_connection(
        f"tcp:127.0.0.1:{port}", source_system=255, source_component=190
    )
    try:
        assert connection.wait_heartbeat(timeout=WAIT) is not None
        connection.mav.param_request_read_send(1, 1, b"RTL_ALT", -1)
        value = _answer(connection, "PARAM_VALUE", param_id="RTL_ALT").param_value
        connection.mav.mission_request_list_send(1, 1, 0)
        count = _answer(connection, "MISSION_COUNT").count
        return value, count
    finally:
        connection.close()


async def test_mavutil_client_over_tcp_then_a_second_client_finds_the_same_vehicle() -> None:
    double = VehicleDouble(ready_after=0.5)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_tcp, double, 0)
        requested = await trio.to_thread.run_sync(first_client, port)
        value, count = await trio.to_thread.run_sync(second_client, port)
        nursery.cancel_scope.cancel()
    assert requested == [0, 1]
    assert (value, count) == (2500, 2)
    assert double.params["RTL_ALT"] == 2500
    assert double.counters["bad_data"] == 0


async def test_run_double_returns_when_the_companion_hangs_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    double = VehicleDouble(ready_after=0)
    vehicle_end, companion_end = trio.testing.memory_stream_pair()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_double, double, vehicle_end)
            assert await companion_end.receive_some()
            await trio.sleep(3)
            await companion_end.aclose()
    assert trio.current_time() == 3.0
    assert double.counters["sent"] > 0
