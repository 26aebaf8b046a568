"""The vehicle double's boot, telemetry, arming, parameters and bad input, through real
pymavlink frames on trio's autojump clock."""

from __future__ import annotations

import math

import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from dialects import event
from sitl.vehicle.double import PARAMS, VehicleDouble

from . import connected


async def test_heartbeat_identifies_an_arducopter_quad_at_1_hz(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(system_id=3) as (_, companion):
        await trio.sleep(10)
        beats = companion.since("HEARTBEAT", 0, 10)
    assert len(beats) == 10
    assert [round(b.at - beats[0].at, 6) for b in beats] == [float(i) for i in range(10)]
    first = beats[0].message
    assert first.get_srcSystem() == 3
    assert first.get_srcComponent() == 1
    assert first.type == event.MAV_TYPE_QUADROTOR
    assert first.autopilot == event.MAV_AUTOPILOT_ARDUPILOTMEGA
    assert first.custom_mode == 0  # STABILIZE
    assert first.base_mode & event.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    assert not first.base_mode & event.MAV_MODE_FLAG_SAFETY_ARMED


async def test_default_streams_position_at_4_hz_status_at_1_hz(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected() as (_, companion):
        await trio.sleep(20)
    for kind, expected in [
        ("GLOBAL_POSITION_INT", 80),
        ("SYS_STATUS", 20),
        ("GPS_RAW_INT", 20),
        ("EKF_STATUS_REPORT", 20),
        ("MISSION_CURRENT", 20),
        ("EXTENDED_SYS_STATE", 20),
    ]:
        assert abs(len(companion.since(kind, 0, 20)) - expected) <= 1, kind


async def test_lat_lon_are_zero_until_the_origin_then_gps_and_ekf_become_ready(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=40) as (double, companion):
        ready_at = await companion.wait_ready()
        await trio.sleep(1)
        assert double.ready
    assert 40 <= ready_at < 41.1
    positions = companion.since("GLOBAL_POSITION_INT", 0)
    before = [h.message for h in positions if h.at < 20]
    after = [h.message for h in positions if h.at >= 20.1]
    assert before
    assert all(m.lat == 0 and m.lon == 0 for m in before)
    assert after
    assert all(m.lat == -353632610 and m.lon == 1491652300 for m in after)
    assert all(m.relative_alt == 0 and m.alt == 584000 for m in after)
    fixes = [(h.at, h.message.fix_type) for h in companion.since("GPS_RAW_INT", 0)]
    assert all(fix == event.GPS_FIX_TYPE_NO_FIX for at, fix in fixes if at < 40)
    assert all(fix == event.GPS_FIX_TYPE_3D_FIX for at, fix in fixes if at >= 40.1)
    texts = [h.message.text for h in companion.since("STATUSTEXT", 0)]
    assert texts[:3] == [
        "EVENT vehicle double (not ArduPilot)",
        "EKF3 IMU0 origin set",
        "EKF3 IMU0 is using GPS",
    ]
    [home] = [h.message for h in companion.since("HOME_POSITION", 0)]
    assert (home.latitude, home.longitude, home.altitude) == (-353632610, 1491652300, 584000)


async def test_arming_is_refused_with_arducopters_reasons_until_ready(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=40) as (double, companion):
        await trio.sleep(5)
        companion.mark()
        assert await companion.arm() == event.MAV_RESULT_FAILED
        assert (await companion.next("STATUSTEXT")).message.text == "Arm: Need Alt Estimate"
        assert await companion.set_mode("GUIDED") == event.MAV_RESULT_ACCEPTED
        await trio.sleep(20)
        companion.mark()
        assert await companion.arm() == event.MAV_RESULT_FAILED
        reason = await companion.next("STATUSTEXT")
        assert reason.message.text == "Arm: Need Position Estimate"
        await companion.wait_ready()
        assert await companion.arm() == event.MAV_RESULT_ACCEPTED
        armed = await companion.next(
            "HEARTBEAT", lambda m: m.base_mode & event.MAV_MODE_FLAG_SAFETY_ARMED
        )
        assert armed.message.custom_mode == 4
        assert armed.message.system_status == event.MAV_STATE_ACTIVE
        assert double.armed


async def test_an_armed_copter_that_does_not_take_off_disarms_after_10_s(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await companion.armed_in_guided()
        armed_at = trio.current_time()
        companion.mark()
        disarmed = await companion.disarmed()
        text = await companion.next("STATUSTEXT", lambda m: m.text == "Disarming motors")
    assert 10 <= text.at - armed_at <= 10.1
    assert 10 <= disarmed.at - armed_at <= 11.1
    assert not double.armed


async def test_arming_in_auto_rtl_or_land_is_refused_as_mode_not_armable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (_, companion):
        await companion.wait_ready()
        for mode in ("AUTO", "RTL", "LAND"):
            assert await companion.set_mode(mode) == event.MAV_RESULT_ACCEPTED
            companion.mark()
            assert await companion.arm() == event.MAV_RESULT_FAILED
            assert (await companion.next("STATUSTEXT")).message.text == "Arm: Mode not armable"


async def test_mode_commands_and_unsupported_commands(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        assert await companion.set_mode("LOITER") == event.MAV_RESULT_ACCEPTED
        beat = await companion.next("HEARTBEAT", lambda m: m.custom_mode == 5)
        assert beat.message.base_mode & event.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        assert double.mode == "LOITER"
        # base_mode without the custom-mode flag: ArduPilot only takes custom modes.
        ack = await companion.command(event.MAV_CMD_DO_SET_MODE, 0, 4)
        assert ack.result == event.MAV_RESULT_DENIED
        ack = await companion.command(event.MAV_CMD_DO_SET_MODE, 1, 17)  # BRAKE: not here
        assert ack.result == event.MAV_RESULT_FAILED
        ack = await companion.command(event.MAV_CMD_DO_DIGICAM_CONTROL)
        assert ack.result == event.MAV_RESULT_UNSUPPORTED
        assert ack.target_system == 1
        assert ack.target_component == 191
        # The deprecated SET_MODE message is answered like DO_SET_MODE.
        await companion.send(companion.mav.set_mode_encode(1, 1, 4))
        ack = (await companion.next("COMMAND_ACK")).message
        assert (ack.command, ack.result) == (event.MAV_CMD_DO_SET_MODE, 0)
        assert double.mode == "GUIDED"
    assert double.counters["unsupported_commands"] == 1


async def test_set_message_interval_request_data_stream_and_request_message(
    autojump_clock: trio.testing.MockClock,
) -> None:
    position = event.MAVLINK_MSG_ID_GLOBAL_POSITION_INT
    async with connected(ready_after=2) as (_, companion):
        await companion.wait_ready()
        ack = await companion.command(event.MAV_CMD_SET_MESSAGE_INTERVAL, position, 1_000_000)
        assert ack.result == event.MAV_RESULT_ACCEPTED
        start = trio.current_time()
        await trio.sleep(10)
        assert len(companion.since("GLOBAL_POSITION_INT", start + 0.05, start + 10)) == 10
        ack = await companion.command(event.MAV_CMD_GET_MESSAGE_INTERVAL, position)
        interval = await companion.next("MESSAGE_INTERVAL")
        assert (interval.message.message_id, interval.message.interval_us) == (position, 1_000_000)
        await companion.command(event.MAV_CMD_SET_MESSAGE_INTERVAL, position, -1)
        start = trio.current_time()
        await trio.sleep(5)
        assert companion.since("GLOBAL_POSITION_INT", start + 0.05) == []
        await companion.send(
            companion.mav.request_data_stream_encode(1, 1, event.MAV_DATA_STREAM_POSITION, 10, 1)
        )
        start = trio.current_time()
        await trio.sleep(5)
        assert abs(len(companion.since("GLOBAL_POSITION_INT", start, start + 5)) - 50) <= 1
        await companion.send(
            companion.mav.request_data_stream_encode(1, 1, event.MAV_DATA_STREAM_ALL, 0, 0)
        )
        start = trio.current_time()
        await trio.sleep(5)
        assert companion.since("SYS_STATUS", start + 0.05) == []
        assert len(companion.since("HEARTBEAT", start, start + 5)) == 5
        companion.mark()
        ack = await companion.command(
            event.MAV_CMD_REQUEST_MESSAGE, event.MAVLINK_MSG_ID_HOME_POSITION
        )
        assert ack.result == event.MAV_RESULT_ACCEPTED
        home = (await companion.next("HOME_POSITION")).message
        assert (home.latitude, home.longitude) == (-353632610, 1491652300)
        ack = await companion.command(event.MAV_CMD_REQUEST_MESSAGE, 12345)
        assert ack.result == event.MAV_RESULT_DENIED


async def test_param_list_read_and_set(autojump_clock: trio.testing.MockClock) -> None:
    async with connected(system_id=7, speed=12.5) as (double, companion):
        await companion.send(companion.mav.param_request_list_encode(7, 1))
        values = [(await companion.next("PARAM_VALUE")).message for _ in PARAMS]
        assert [v.param_index for v in values] == list(range(len(PARAMS)))
        assert {v.param_count for v in values} == {len(PARAMS)}
        by_name = {v.param_id: v for v in values}
        assert set(by_name) == set(PARAMS)
        assert by_name["SYSID_THISMAV"].param_value == 7
        assert by_name["SYSID_THISMAV"].param_type == event.MAV_PARAM_TYPE_INT16
        assert by_name["WPNAV_SPEED"].param_value == 1250
        assert by_name["WPNAV_SPEED"].param_type == event.MAV_PARAM_TYPE_REAL32
        assert by_name["RTL_ALT"].param_type == event.MAV_PARAM_TYPE_INT32

        await companion.send(companion.mav.param_set_encode(7, 1, b"WPNAV_SPEED", 500, 9))
        reply = (await companion.next("PARAM_VALUE")).message
        assert (reply.param_id, reply.param_value) == ("WPNAV_SPEED", 500)
        # An integer parameter is rounded as ArduPilot stores it.
        await companion.send(companion.mav.param_set_encode(7, 1, b"DISARM_DELAY", 5.6, 2))
        reply = (await companion.next("PARAM_VALUE")).message
        assert (reply.param_id, reply.param_value) == ("DISARM_DELAY", 6)

        # An unknown name is ignored without a reply, like ArduPilot: the next PARAM_VALUE
        # is the answer to the read sent after it.
        await companion.send(companion.mav.param_set_encode(7, 1, b"NO_SUCH_PARAM", 1, 9))
        await companion.send(companion.mav.param_set_encode(7, 1, b"RTL_ALT", math.nan, 6))
        await companion.send(companion.mav.param_request_read_encode(7, 1, b"RTL_ALT", -1))
        reply = (await companion.next("PARAM_VALUE")).message
        assert (reply.param_id, reply.param_value) == ("RTL_ALT", 1500)
        await companion.send(companion.mav.param_request_read_encode(7, 1, b"", 0))
        reply = (await companion.next("PARAM_VALUE")).message
        assert reply.param_index == 0
    assert double.params["WPNAV_SPEED"] == 500
    assert "NO_SUCH_PARAM" not in double.params
    assert double.counters["param_unknown"] == 1
    assert double.counters["param_invalid"] == 1


def _frames(mav: event.MAVLink, *messages: object) -> bytes:
    data = b""
    for message in messages:
        data += message.pack(mav)  # type: ignore[attr-defined]
        mav.seq += 1
    return data


def _feed(stream: bytes, chunk: int) -> VehicleDouble:
    double = VehicleDouble(ready_after=0)
    double.step(0.0)
    double.data_to_send()
    for index in range(0, len(stream), chunk):
        double.receive(stream[index : index + chunk], 1.0)
    return double


def test_bad_bytes_are_counted_and_the_frames_around_them_still_work() -> None:
    gcs = event.MAVLink(None, 255, 190)
    corrupt = bytearray(_frames(gcs, gcs.param_request_read_encode(1, 1, b"RTL_ALT", -1)))
    corrupt[-1] ^= 0xFF
    stream = (
        b"\x00\x01garbage\xff"
        + bytes(corrupt)
        + _frames(gcs, gcs.param_request_read_encode(1, 1, b"LAND_SPEED", -1))
    )
    for chunk in (len(stream), 7, 1):  # whole, in pieces, byte by byte
        double = _feed(stream, chunk)
        replies = event.MAVLink(None).parse_buffer(double.data_to_send()) or []
        assert [(m.get_type(), m.param_id) for m in replies] == [("PARAM_VALUE", "LAND_SPEED")]
        assert double.counters["bad_bytes"] == 10 + len(corrupt)
        assert double.counters["bad_data"] >= 2
        assert double.counters["received"] == 1


def test_messages_for_another_system_are_counted_not_obeyed() -> None:
    double = VehicleDouble(system_id=2, ready_after=0)
    gcs = event.MAVLink(None, 255, 190)
    double.receive(_frames(gcs, gcs.command_long_encode(5, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)), 1.0)
    double.receive(_frames(gcs, gcs.command_long_encode(2, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)), 2.0)
    replies = event.MAVLink(None).parse_buffer(double.data_to_send()) or []
    acks = [m for m in replies if m.get_type() == "COMMAND_ACK"]
    assert len(acks) == 1
    assert acks[0].result == event.MAV_RESULT_ACCEPTED
    assert double.counters["not_for_us"] == 1
    assert double.armed


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_any_bytes_never_raise(chunks: list[bytes]) -> None:
    double = VehicleDouble(ready_after=1)
    for index, chunk in enumerate(chunks):
        double.receive(chunk, index * 0.5)
        double.step(index * 0.5 + 0.25)
    double.step(100.0)
    assert double.counters["bad_bytes"] <= sum(map(len, chunks))
    assert double.data_to_send()


async def test_the_companion_helper_sees_what_the_double_sends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The harness itself: a mark hides what came before it."""
    async with connected() as (_, companion):
        await companion.next("HEARTBEAT")
        companion.mark()
        second = await companion.next("HEARTBEAT")
    assert second.at == 1.0


def _session(seed: int) -> bytes:
    """Bytes a double sends over 60 s with an arm, a takeoff and a mode change."""
    double = VehicleDouble(ready_after=5, seed=seed)
    gcs = event.MAVLink(None, 1, 191)
    commands = {
        60: gcs.command_long_encode(1, 1, 176, 0, 1, 4, 0, 0, 0, 0, 0),
        61: gcs.command_long_encode(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0),
        62: gcs.command_long_encode(1, 1, 22, 0, 0, 0, 0, 0, 0, 0, 15),
        300: gcs.command_long_encode(1, 1, 176, 0, 1, 6, 0, 0, 0, 0, 0),
    }
    out = b""
    for tick in range(600):
        if tick in commands:
            double.receive(_frames(gcs, commands[tick]), tick / 10)
        double.step(tick / 10)
        out += double.data_to_send()
    return out


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_gps_noise() -> None:
    assert _session(seed=4) == _session(seed=4)
    assert _session(seed=4) != _session(seed=5)


NUMBERS = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from([0.0, 1.0])


@given(
    st.lists(
        st.tuples(
            st.sampled_from([176, 400, 22, 300, 192, 20, 21, 178, 224, 511, 510, 512, 31000]),
            st.lists(NUMBERS, min_size=7, max_size=7),
        ),
        max_size=12,
    ),
    st.tuples(NUMBERS, NUMBERS, st.integers(-(2**31), 2**31 - 1)),
)
def test_commands_with_any_numbers_are_answered_and_never_raise(
    commands: list[tuple[int, list[float]]], target: tuple[float, float, int]
) -> None:
    double = VehicleDouble(ready_after=0)
    gcs = event.MAVLink(None, 1, 191)
    double.step(0.0)
    data = b"".join(
        _frames(gcs, gcs.command_long_encode(1, 1, command, 0, *params))
        for command, params in commands
    )
    data += _frames(
        gcs,
        gcs.param_set_encode(1, 1, b"WPNAV_SPEED", target[0], 9),
        gcs.set_position_target_global_int_encode(
            0, 1, 1, 6, 0, target[2], target[2], target[1], 0, 0, 0, 0, 0, 0, 0, 0
        ),
    )
    double.receive(data, 1.0)
    for tick in range(2, 60, 3):
        double.step(tick)
    replies = event.MAVLink(None).parse_buffer(double.data_to_send()) or []
    acks = [m for m in replies if m.get_type() == "COMMAND_ACK"]
    assert [a.command for a in acks] == [command for command, _ in commands]
