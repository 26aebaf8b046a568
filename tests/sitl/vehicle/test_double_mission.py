"""The double's mission protocol, both directions, as ArduPilot runs it: item 0 is home,
uploads are not atomic, a bad item is NACKed with its MAV_MISSION_RESULT, a silent
uploader is asked again after 1 s and given up on after 8 s."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from dialects import event
from sitl.vehicle.double import MAX_MISSION_ITEMS

from . import HOME, Companion, connected, square_mission, waypoint


def fields(item: Any) -> tuple[Any, ...]:
    names = ("seq", "frame", "command", "param1", "param2", "param3", "param4", "x", "y", "z")
    return tuple(getattr(item, name) for name in names)


async def test_a_20_waypoint_mission_uploads_and_reads_back_identical_with_home_as_item_0(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await companion.wait_ready()
        items = square_mission(companion)
        ack = await companion.upload(items)
        assert ack.type == event.MAV_MISSION_ACCEPTED
        await companion.next("STATUSTEXT", lambda m: m.text == "Flight plan received")
        downloaded = await companion.download()
    assert len(downloaded) == 22
    assert [fields(item) for item in downloaded] == [fields(item) for item in items]
    assert (downloaded[0].x, downloaded[0].y, downloaded[0].z) == (-353632610, 1491652300, 584)
    assert [fields(item) for item in double.mission] == [fields(item) for item in items]
    requests = [h.message.seq for h in companion.since("MISSION_REQUEST_INT", 0)]
    assert requests == list(range(22))


async def test_items_come_back_in_arducopters_stored_form(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """INT frames come back without _INT, altitudes truncated to cm, and only the params
    ArduCopter keeps: what the agent must allow for when it compares a read-back."""
    async with connected(ready_after=2) as (_, companion):
        mav = companion.mav
        lat, lon, _ = HOME
        items = [
            waypoint(mav, 0, 0, 0, 0),
            mav.mission_item_int_encode(
                1,
                1,
                1,
                event.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                16,
                0,
                1,
                2.7,
                3.0,
                4.0,
                5.0,
                round(lat * 1e7),
                round(lon * 1e7),
                12.3456,
            ),
            mav.mission_item_int_encode(
                1,
                1,
                2,
                event.MAV_FRAME_GLOBAL_INT,
                19,
                0,
                1,
                30,
                0,
                -2,
                1,
                round(lat * 1e7),
                round(lon * 1e7),
                700.0,
            ),
        ]
        assert (await companion.upload(items)).type == event.MAV_MISSION_ACCEPTED
        _, first, second = await companion.download()
    assert first.frame == event.MAV_FRAME_GLOBAL_RELATIVE_ALT
    assert (first.param1, first.param2, first.param3, first.param4) == (2, 0, 0, 0)
    assert round(first.z, 4) == 12.34
    assert second.frame == event.MAV_FRAME_GLOBAL
    assert (second.param1, second.param3, second.param4, second.z) == (30, -1, 1, 700)


async def test_an_rtl_item_is_kept_without_frame_or_position(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """As ArduCopter 4.7 SITL returns it (`AP_Mission::stored_in_location` has no RTL):
    frame GLOBAL, no position, whatever came; and no location checks on the way in."""
    async with connected(ready_after=2) as (_, companion):
        mav = companion.mav
        rtl = event.MAV_CMD_NAV_RETURN_TO_LAUNCH
        items = [
            waypoint(companion.mav, 0, 0, 0, 0),
            waypoint(mav, 1, *HOME[:2], 20, command=rtl),
            mav.mission_item_int_encode(
                1, 1, 2, event.MAV_FRAME_LOCAL_NED, rtl, 0, 1, 0, 0, 0, 0, 10**9, 0, 10**6
            ),
        ]
        assert (await companion.upload(items)).type == event.MAV_MISSION_ACCEPTED
        _, first, second = await companion.download()
    for item in (first, second):
        assert (item.command, item.frame, item.x, item.y, item.z) == (rtl, 0, 0, 0, 0)


async def test_mission_request_for_float_items_is_answered_with_mission_item(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (_, companion):
        await companion.wait_ready()
        assert (await companion.upload(square_mission(companion, 2))).type == 0
        await companion.send(companion.mav.mission_request_encode(1, 1, 2, 0))
        item = (await companion.next("MISSION_ITEM")).message
    assert (item.seq, item.command) == (2, event.MAV_CMD_NAV_WAYPOINT)
    assert abs(item.x - HOME[0]) < 1e-5
    assert abs(item.y - HOME[1]) < 1e-5


async def test_a_bad_item_is_nacked_and_ends_the_upload_leaving_a_mixed_mission(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await companion.wait_ready()
        old = square_mission(companion, 4)
        assert (await companion.upload(old)).type == event.MAV_MISSION_ACCEPTED
        new = square_mission(companion, 4)
        new[2] = waypoint(companion.mav, 2, HOME[0], HOME[1], 40)
        new[3] = waypoint(companion.mav, 3, 0, 0, 0, command=event.MAV_CMD_DO_DIGICAM_CONTROL)
        companion.mark()
        ack = await companion.upload(new)
        assert ack.type == event.MAV_MISSION_UNSUPPORTED
        # Not atomic: item 2 was already replaced, items 3 on are the old ones.
        assert [item.z for item in double.mission[1:]] == [25, 40, 25, 25, 25]
        bad_latitude = square_mission(companion, 2)
        bad_latitude[2] = waypoint(companion.mav, 2, 91.0, 0, 10)
        assert (await companion.upload(bad_latitude)).type == event.MAV_MISSION_INVALID_PARAM5_X
        bad_frame = square_mission(companion, 2)
        bad_frame[3] = waypoint(companion.mav, 3, *HOME[:2], 10, frame=event.MAV_FRAME_BODY_FRD)
        assert (await companion.upload(bad_frame)).type == event.MAV_MISSION_UNSUPPORTED_FRAME
    assert double.counters["mission_nacks"] == 3


async def test_an_out_of_sequence_item_is_nacked_but_the_upload_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        items = square_mission(companion, 3)
        await companion.send(companion.mav.mission_count_encode(1, 1, len(items), 0))
        assert (await companion.next("MISSION_REQUEST_INT")).message.seq == 0
        await companion.send(items[0])
        assert (await companion.next("MISSION_REQUEST_INT")).message.seq == 1
        await companion.send(items[3])
        nack = (await companion.next("MISSION_ACK")).message
        assert nack.type == event.MAV_MISSION_INVALID_SEQUENCE
        for seq in range(1, len(items)):
            await companion.send(items[seq])
        assert (await companion.next("MISSION_ACK")).message.type == event.MAV_MISSION_ACCEPTED
    assert len(double.mission) == len(items)


async def test_a_silent_uploader_is_asked_again_each_second_then_cancelled_after_8_s(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await trio.sleep(1)
        items = square_mission(companion, 3)
        await companion.send(companion.mav.mission_count_encode(1, 1, len(items), 0))
        await companion.next("MISSION_REQUEST_INT")
        await companion.send(items[0])
        last_item_at = trio.current_time()
        first = await companion.next("MISSION_REQUEST_INT")
        cancelled = await companion.next("MISSION_ACK")
        repeats = companion.since("MISSION_REQUEST_INT", first.at + 0.01, cancelled.at)
        assert double.counters["upload_timeouts"] == 1
    assert cancelled.message.type == event.MAV_MISSION_OPERATION_CANCELLED
    assert 8.0 < cancelled.at - last_item_at <= 8.1
    assert [r.message.seq for r in repeats] == [1] * 7
    gaps = [b.at - a.at for a, b in zip([first, *repeats], repeats, strict=False)]
    assert all(1.0 < gap <= 1.1 for gap in gaps)
    texts = [h.message.text for h in companion.since("STATUSTEXT", 0)]
    assert "Mission upload timeout" in texts


async def test_download_is_denied_during_an_upload_and_another_uploader_is_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (_, companion):
        await companion.send(companion.mav.mission_count_encode(1, 1, 3, 0))
        await companion.next("MISSION_REQUEST_INT")
        await companion.send(companion.mav.mission_request_list_encode(1, 1, 0))
        assert (await companion.next("MISSION_ACK")).message.type == event.MAV_MISSION_DENIED
        intruder = Companion(companion.stream, source=(255, 190))
        await intruder.send(intruder.mav.mission_count_encode(1, 1, 2, 0))
        denied = (await companion.next("MISSION_ACK")).message
        assert (denied.type, denied.target_system) == (event.MAV_MISSION_DENIED, 255)


async def test_clear_all_count_limits_and_other_mission_types(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await companion.wait_ready()
        assert (await companion.upload(square_mission(companion, 2))).type == 0
        await companion.send(companion.mav.mission_clear_all_encode(1, 1, 0))
        assert (await companion.next("MISSION_ACK")).message.type == event.MAV_MISSION_ACCEPTED
        assert len(await companion.download()) == 1
        await companion.send(companion.mav.mission_count_encode(1, 1, MAX_MISSION_ITEMS + 1, 0))
        assert (await companion.next("MISSION_ACK")).message.type == event.MAV_MISSION_NO_SPACE
        await companion.send(companion.mav.mission_count_encode(1, 1, 3, 1))  # a fence
        nack = (await companion.next("MISSION_ACK")).message
        assert (nack.type, nack.mission_type) == (event.MAV_MISSION_UNSUPPORTED, 1)
        await companion.send(companion.mav.mission_request_int_encode(1, 1, 5, 0))
        nack = (await companion.next("MISSION_ACK")).message
        assert nack.type == event.MAV_MISSION_INVALID_SEQUENCE
    assert len(double.mission) == 1


async def test_mission_set_current_answers_with_mission_current(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected(ready_after=2) as (double, companion):
        await companion.wait_ready()
        assert (await companion.upload(square_mission(companion, 4))).type == 0
        companion.mark()
        await companion.send(companion.mav.mission_set_current_encode(1, 1, 3))
        current = (await companion.next("MISSION_CURRENT")).message
        assert (current.seq, current.total) == (3, 5)
        ack = await companion.command(event.MAV_CMD_DO_SET_MISSION_CURRENT, 9)
        assert ack.result == event.MAV_RESULT_DENIED
    assert double.current_seq == 3
