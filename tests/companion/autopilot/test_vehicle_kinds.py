"""Mission start and abort on each vehicle kind, through the executor, against the double
playing a plane or a rover (HEARTBEAT.type and modes), on the autojump clock."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
import trio.testing

from companion.autopilot.adapter import AutopilotAdapter
from companion.autopilot.executor import CommandExecutor
from dialects import event
from sitl.vehicle.double import VehicleDouble
from sitl.vehicle.serve import run_double
from tests.companion.autopilot import events
from tests.companion.autopilot.events import route
from tests.companion.autopilot.fc import US
from tests.companion.autopilot.harness import StreamTransport

READY = 40.0
START = event.EVENT_MISSION_FLAGS_START
TAKEOFF = event.EVENT_MISSION_FLAGS_TAKEOFF


class WatchedDouble(VehicleDouble):
    """The double, counting each message type it was sent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: Counter[str] = Counter()

    def _dispatch(self, message: Any, now: float) -> None:
        self.seen[message.get_type()] += 1
        super()._dispatch(message, now)


@dataclass
class Rig:
    double: WatchedDouble
    adapter: AutopilotAdapter
    executor: CommandExecutor

    async def command(self, bundle: list[Any]) -> tuple[int, str]:
        ack = await self.executor.execute(bundle)
        assert ack is not None
        return ack.outcome, ack.reason

    async def until(self, condition: Any, within: float) -> None:
        with trio.fail_after(within):
            while not condition():
                await trio.sleep(0.1)


@asynccontextmanager
async def rig(kind: str) -> AsyncIterator[Rig]:
    ours, theirs = trio.testing.memory_stream_pair()
    double = WatchedDouble(ready_after=READY, kind=kind)
    adapter = AutopilotAdapter(StreamTransport(ours), system_id=US)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_double, double, theirs)
        nursery.start_soon(adapter.run)
        assert await adapter.wait_connected()
        r = Rig(double, adapter, CommandExecutor(adapter))
        await r.until(lambda: adapter.state.gps_ok, READY + 5)
        yield r
        nursery.cancel_scope.cancel()


async def test_plane_takes_off_from_an_inserted_takeoff_item(autojump_clock: object) -> None:
    async with rig("plane") as r:
        assert r.adapter.state.vehicle_type == event.MAV_TYPE_FIXED_WING
        assert r.double.mode == "MANUAL"
        outcome = await r.command(events.assign(route(3), flags=START | TAKEOFF))
        assert outcome == (event.EVENT_OUTCOME_COMPLETED, "mission started in AUTO")
        assert (r.double.mode, r.double.armed) == ("AUTO", True)
        commands = [item.command for item in r.double.mission]
        assert commands[1:] == [event.MAV_CMD_NAV_TAKEOFF, *[event.MAV_CMD_NAV_WAYPOINT] * 3]
        assert r.double.mission[1].z == 20.0  # the first item's altitude
        assert r.executor.mission is not None
        assert r.executor.mission.offset == 2  # EVENT item 0 is autopilot item 2
        await r.until(lambda: r.adapter.state.mission_reached == 4, within=120)
        assert abs(r.double.position[2] - 20.0) < 0.5


async def test_plane_mission_with_its_own_takeoff_is_flown_as_sent(autojump_clock: object) -> None:
    takeoff = (events.HOME_LAT, events.HOME_LON, 300, event.EVENT_ITEM_TAKEOFF, 0)
    async with rig("plane") as r:
        outcome = await r.command(events.assign([takeoff, *route(2)], flags=START | TAKEOFF))
        assert outcome == (event.EVENT_OUTCOME_COMPLETED, "mission started in AUTO")
        assert len(r.double.mission) == 4
        assert r.executor.mission is not None
        assert r.executor.mission.offset == 1


async def test_plane_refusals_upload_nothing(autojump_clock: object) -> None:
    async with rig("plane") as r:
        assert await r.command(events.assign(route(3), flags=START)) == (
            event.EVENT_OUTCOME_FAILED,
            "on the ground and no takeoff altitude",
        )
        assert await r.command(events.abort(event.EVENT_ABORT_ACTION_LAND)) == (
            event.EVENT_OUTCOME_UNSUPPORTED,
            "LAND: a plane has no LAND mode; use RTL or HOLD",
        )
        assert r.double.seen["MISSION_COUNT"] == 0
        assert not r.double.armed


async def test_rover_drives_its_mission_then_holds(autojump_clock: object) -> None:
    async with rig("rover") as r:
        assert r.adapter.state.vehicle_type == event.MAV_TYPE_GROUND_ROVER
        outcome = await r.command(events.assign(route(3), flags=START))
        assert outcome == (event.EVENT_OUTCOME_COMPLETED, "mission started in AUTO")
        assert (r.double.mode, r.double.armed) == ("AUTO", True)
        assert len(r.double.mission) == 4
        await r.until(lambda: r.adapter.state.mission_reached == 3, within=120)
        assert r.double.position[2] == 0.0  # on the ground all the way
        assert r.double.armed
        hold = await r.command(events.abort(event.EVENT_ABORT_ACTION_HOLD, seq=3))
        assert hold == (event.EVENT_OUTCOME_COMPLETED, "mode HOLD")
        land = await r.command(events.abort(event.EVENT_ABORT_ACTION_LAND, seq=4))
        assert land == (
            event.EVENT_OUTCOME_UNSUPPORTED,
            "LAND: a rover has no LAND mode; use RTL or HOLD",
        )
        rtl = await r.command(events.abort(event.EVENT_ABORT_ACTION_RTL, seq=5))
        assert rtl == (event.EVENT_OUTCOME_COMPLETED, "mode RTL")


async def test_rover_refuses_a_takeoff_before_uploading(autojump_clock: object) -> None:
    land = (events.HOME_LAT + 900, events.HOME_LON, 0, event.EVENT_ITEM_LAND, 0)
    async with rig("rover") as r:
        assert await r.command(events.assign(route(3), flags=START | TAKEOFF)) == (
            event.EVENT_OUTCOME_UNSUPPORTED,
            "rover: cannot take off (TAKEOFF flag)",
        )
        assert await r.command(events.assign([*route(2), land], flags=START, seq=2)) == (
            event.EVENT_OUTCOME_UNSUPPORTED,
            "rover: item 2 is a takeoff or landing",
        )
        assert r.double.seen["MISSION_COUNT"] == 0
        assert len(r.double.mission) == 1  # home only
        assert not r.double.armed
