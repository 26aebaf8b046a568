"""The double in flight: AUTO missions, GUIDED takeoff and reposition, RTL and LAND, with
times that follow from ArduCopter's default speeds (WPNAV_SPEED 10 m/s as configured
here, climb 2.5 m/s, descent 1.5 m/s above 10 m and 0.5 m/s below)."""

from __future__ import annotations

import math

import trio
import trio.testing

from dialects import event

from . import HOME, connected, square_mission, waypoint

TICK = 0.1
"""run_double's step: events are seen at most one tick after they happen."""


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine, WGS84 equatorial radius) between (lat, lon)s."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6378137.0 * math.asin(math.sqrt(h))


def close_to(value: float, expected: float, slack: float = TICK + 0.01) -> bool:
    """`value` within `slack` of `expected`: times seen by the companion come in ticks."""
    return abs(value - expected) <= slack


async def test_auto_flies_a_20_waypoint_mission_reaching_each_item_in_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2, speed=10) as (double, companion):
        await companion.armed_in_guided()
        items = square_mission(companion)
        assert (await companion.upload(items)).type == event.MAV_MISSION_ACCEPTED
        ack = await companion.command(event.MAV_CMD_MISSION_START)
        assert ack.result == event.MAV_RESULT_ACCEPTED
        started = trio.current_time()
        reached = [await companion.next("MISSION_ITEM_REACHED") for _ in range(21)]
        await trio.sleep(30)
        beat = await companion.next("HEARTBEAT", fresh=True)
        current = companion.since("MISSION_CURRENT", trio.current_time() - 2)[-1].message
    assert [r.message.seq for r in reached] == list(range(1, 22))
    assert close_to(reached[0].at - started, 25 / 2.5)
    for n in range(1, 21):
        a, b = items[n], items[n + 1]
        distance = metres((a.x / 1e7, a.y / 1e7), (b.x / 1e7, b.y / 1e7))
        leg_time = reached[n].at - reached[n - 1].at
        assert close_to(leg_time, distance / 10, 2 * TICK), (n, leg_time, distance)
    # Mission end in the air: ArduCopter stays in AUTO, armed, loitering at the last item.
    assert beat.message.custom_mode == 3
    assert beat.message.base_mode & event.MAV_MODE_FLAG_SAFETY_ARMED
    assert (current.seq, current.mission_state) == (21, event.MISSION_STATE_COMPLETE)
    lat, lon, alt = double.position
    assert metres((lat, lon), (items[21].x / 1e7, items[21].y / 1e7)) < 0.01
    assert abs(alt - 25) < 1e-6
    texts = [h.message.text for h in companion.since("STATUSTEXT", started)]
    texts = [text for text in texts if text.startswith(("Mission", "Reached"))]
    assert texts[:3] == ["Mission: 1 Takeoff", "Mission: 2 WP", "Reached command #2"]


async def test_auto_on_the_ground_waits_for_mission_start_and_needs_a_takeoff_item(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await companion.armed_in_guided()
        no_takeoff = square_mission(companion, 2)
        del no_takeoff[1]
        no_takeoff = [
            waypoint(companion.mav, seq, item.x / 1e7, item.y / 1e7, item.z, frame=item.frame)
            for seq, item in enumerate(no_takeoff)
        ]
        assert (await companion.upload(no_takeoff)).type == event.MAV_MISSION_ACCEPTED
        companion.mark()
        assert await companion.set_mode("AUTO") == event.MAV_RESULT_FAILED
        missing = await companion.next("STATUSTEXT")
        assert missing.message.text == "Auto: Missing Takeoff Cmd"
        assert (await companion.upload(square_mission(companion, 2))).type == 0
        assert await companion.set_mode("AUTO") == event.MAV_RESULT_ACCEPTED
        await trio.sleep(3)
        assert double.landed
        assert double.armed
        ack = await companion.command(event.MAV_CMD_MISSION_START)
        assert ack.result == event.MAV_RESULT_ACCEPTED
        takeoff = await companion.next("MISSION_ITEM_REACHED")
    assert takeoff.message.seq == 1
    assert not double.landed


async def test_a_mission_ending_in_land_lands_and_disarms(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await companion.armed_in_guided()
        items = square_mission(companion, 2)
        items.append(waypoint(companion.mav, 4, 0, 0, 0, command=event.MAV_CMD_NAV_LAND))
        assert (await companion.upload(items)).type == event.MAV_MISSION_ACCEPTED
        await companion.command(event.MAV_CMD_MISSION_START)
        reached = [await companion.next("MISSION_ITEM_REACHED") for _ in range(3)]
        landing = await companion.next("STATUSTEXT", lambda m: m.text == "Mission: 4 Land")
        disarmed = await companion.disarmed()
        companion.mark()
        current = await companion.next("MISSION_CURRENT", fresh=True)
    assert [r.message.seq for r in reached] == [1, 2, 3]
    # As ArduCopter 4.7 SITL showed: the landing item is never "reached"; landed, the
    # copter disarms, and the mission is back at item 1 (still running, still AUTO).
    assert [h.message.seq for h in companion.since("MISSION_ITEM_REACHED", landing.at)] == [3]
    # 25 m down: 15 m at 1.5 m/s, 10 m at 0.5 m/s, then 1 s for the land detector.
    assert close_to(disarmed.at - reached[2].at, 10 + 20 + 1 + 0.5, slack=0.5 + TICK)
    assert current.message.seq == 1
    assert current.message.mission_state == event.MISSION_STATE_ACTIVE
    assert double.landed
    assert not double.armed
    assert double.mode == "AUTO"
    lat, lon, _ = double.position
    assert metres((lat, lon), (items[3].x / 1e7, items[3].y / 1e7)) < 0.01


async def test_guided_takeoff_then_reposition_and_position_target(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2, speed=10) as (double, companion):
        await companion.wait_ready()
        assert await companion.set_mode("LOITER") == event.MAV_RESULT_ACCEPTED
        assert await companion.arm() == event.MAV_RESULT_ACCEPTED
        assert await companion.takeoff(20) == event.MAV_RESULT_FAILED  # not GUIDED
        assert await companion.set_mode("GUIDED") == event.MAV_RESULT_ACCEPTED
        assert await companion.takeoff(20) == event.MAV_RESULT_ACCEPTED
        lifted = trio.current_time()
        at_altitude = await companion.next("GLOBAL_POSITION_INT", lambda m: m.relative_alt >= 20000)
        assert close_to(at_altitude.at - lifted, 8.0, 0.3)
        assert await companion.takeoff(30) == event.MAV_RESULT_FAILED  # already flying
        in_air = companion.since("EXTENDED_SYS_STATE", at_altitude.at)[-1].message
        assert in_air.landed_state == event.MAV_LANDED_STATE_IN_AIR

        target = (HOME[0] + 300 / 111319.49, HOME[1])
        await companion.send(
            companion.mav.command_int_encode(
                1,
                1,
                event.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                event.MAV_CMD_DO_REPOSITION,
                0,
                0,
                -1,
                0,
                0,
                math.nan,
                round(target[0] * 1e7),
                round(target[1] * 1e7),
                30,
            )
        )
        ack = (await companion.next("COMMAND_ACK")).message
        assert (ack.command, ack.result) == (event.MAV_CMD_DO_REPOSITION, 0)
        sent = trio.current_time()
        arrived = await companion.next(
            "GLOBAL_POSITION_INT",
            lambda m: metres((m.lat / 1e7, m.lon / 1e7), target) < 0.5 and m.relative_alt > 29990,
        )
        moving = companion.since("GLOBAL_POSITION_INT", sent + 5, sent + 20)
        assert close_to(arrived.at - sent, 30.0, 0.3)
        assert all(abs(math.hypot(h.message.vx, h.message.vy) - 1000) <= 1 for h in moving)
        assert all(abs(h.message.hdg) < 1 or abs(h.message.hdg - 36000) < 1 for h in moving)

        await companion.send(
            companion.mav.set_position_target_global_int_encode(
                0,
                1,
                1,
                event.MAV_FRAME_GLOBAL_INT,
                0b110111111000,
                round(HOME[0] * 1e7),
                round((HOME[1] + 0.001) * 1e7),
                HOME[2] + 10,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            )
        )
        await trio.sleep(40)
    lat, lon, alt = double.position
    assert metres((lat, lon), (HOME[0], HOME[1] + 0.001)) < 0.01
    assert abs(alt - 10) < 1e-6
    assert double.mode == "GUIDED"
    assert double.armed


async def test_reposition_outside_guided_is_denied_unless_it_may_change_mode(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await companion.wait_ready()
        assert await companion.set_mode("LOITER") == 0
        ack = await companion.command(event.MAV_CMD_DO_REPOSITION, 0, 0, 0, 0, *HOME[:2], 10)
        assert ack.result == event.MAV_RESULT_DENIED
        flags = event.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE
        ack = await companion.command(event.MAV_CMD_DO_REPOSITION, 0, flags, 0, 0, *HOME[:2], 10)
        assert ack.result == event.MAV_RESULT_ACCEPTED
        assert double.mode == "GUIDED"
        ack = await companion.command(event.MAV_CMD_DO_REPOSITION, 0, 0, 0, 0, 95.0, 0, 10)
        assert ack.result == event.MAV_RESULT_DENIED


async def test_rtl_returns_at_altitude_loiters_lands_and_disarms(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2, speed=10) as (double, companion):
        await companion.armed_in_guided()
        await companion.takeoff(30)
        away = (HOME[0] + 300 / 111319.49, HOME[1])
        # COMMAND_LONG carries lat/lon as float32: about a metre off at this longitude.
        await companion.command(event.MAV_CMD_DO_REPOSITION, 0, 0, 0, 0, *away, 30)
        await companion.next(
            "GLOBAL_POSITION_INT", lambda m: metres((m.lat / 1e7, m.lon / 1e7), away) < 2
        )
        ack = await companion.command(event.MAV_CMD_NAV_RETURN_TO_LAUNCH)
        assert ack.result == event.MAV_RESULT_ACCEPTED
        rtl_at = trio.current_time()
        mode = await companion.next("HEARTBEAT", lambda m: m.custom_mode == 6)
        disarmed = await companion.disarmed()
    assert mode.at - rtl_at <= 1.0
    flown = companion.since("GLOBAL_POSITION_INT", rtl_at, disarmed.at)
    # RTL_ALT is 15 m: from 30 m the copter comes home at 30 m, never lower until home.
    over_home = [
        h for h in flown if metres((h.message.lat / 1e7, h.message.lon / 1e7), HOME[:2]) < 1
    ]
    assert min(h.message.relative_alt for h in flown if h.at < over_home[0].at) >= 29990
    # 300 m at 10 m/s, RTL_LOIT_TIME 5 s, 20 m at 1.5 m/s, 10 m at 0.5 m/s, land detector 1 s.
    assert close_to(disarmed.at - rtl_at, 30 + 5 + 20 / 1.5 + 20 + 1, 1.0 + TICK)
    assert double.landed
    assert double.mode == "RTL"
    assert metres(double.position[:2], HOME[:2]) < 0.01


async def test_rtl_from_low_altitude_climbs_to_rtl_alt_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await companion.armed_in_guided()
        await companion.takeoff(5)
        await companion.next("GLOBAL_POSITION_INT", lambda m: m.relative_alt >= 5000)
        start = trio.current_time()
        assert await companion.set_mode("RTL") == event.MAV_RESULT_ACCEPTED
        await companion.disarmed()
    highest = max(h.message.relative_alt for h in companion.since("GLOBAL_POSITION_INT", start))
    assert highest == 15000
    assert not double.armed


async def test_land_descends_at_land_speeds_and_disarms(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await companion.armed_in_guided()
        await companion.takeoff(20)
        await companion.next("GLOBAL_POSITION_INT", lambda m: m.relative_alt >= 20000)
        ack = await companion.command(event.MAV_CMD_NAV_LAND)
        assert ack.result == event.MAV_RESULT_ACCEPTED
        start = trio.current_time()
        landing = await companion.next(
            "EXTENDED_SYS_STATE", lambda m: m.landed_state == event.MAV_LANDED_STATE_LANDING
        )
        disarmed = await companion.disarmed()
    assert landing.at - start <= 1.0
    descent = companion.since("GLOBAL_POSITION_INT", start + 1, disarmed.at - 2)
    fast = [h.message.vz for h in descent if h.message.relative_alt > 10_200]
    slow = [h.message.vz for h in descent if 200 < h.message.relative_alt < 9_800]
    assert set(fast) == {150}
    assert len(fast) >= 20
    assert set(slow) == {50}
    assert len(slow) >= 70
    assert close_to(disarmed.at - start, 10 / 1.5 + 10 / 0.5 + 1, 1.0 + TICK)
    assert double.mode == "LAND"
    assert double.landed


async def test_disarm_in_flight_is_refused_unless_forced(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await companion.armed_in_guided()
        await companion.takeoff(10)
        await companion.next("GLOBAL_POSITION_INT", lambda m: m.relative_alt >= 10000)
        ack = await companion.command(event.MAV_CMD_COMPONENT_ARM_DISARM, 0)
        assert ack.result == event.MAV_RESULT_FAILED
        assert double.armed
        ack = await companion.command(event.MAV_CMD_COMPONENT_ARM_DISARM, 0, 21196)
        assert ack.result == event.MAV_RESULT_ACCEPTED
    assert not double.armed
    assert double.landed
    assert double.counters["forced_disarm_in_air"] == 1


async def test_battery_drains_while_flying(autojump_clock: trio.testing.MockClock) -> None:
    async with connected(ready_after=2) as (_, companion):
        await companion.armed_in_guided()
        await companion.takeoff(10)
        start = trio.current_time()
        await trio.sleep(120)
    statuses = [h.message for h in companion.since("SYS_STATUS", start)]
    assert statuses[0].battery_remaining > statuses[-1].battery_remaining
    assert statuses[0].voltage_battery > statuses[-1].voltage_battery > 10_500
    voltages = [s.voltage_battery for s in statuses]
    assert voltages == sorted(voltages, reverse=True)
