"""The adapter and executor against the vehicle double, on the autojump clock.

The double (sitl/vehicle/double.py) is a test double of ArduCopter, not an autopilot:
it refuses arming until its EKF is ready, stores mission items as ArduPilot does, and
flies a kinematic point. Everything between it and the adapter is real MAVLink 2.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
import trio.testing

from companion.autopilot.adapter import AutopilotAdapter
from companion.autopilot.executor import CommandExecutor
from companion.autopilot.mission_protocol import MissionItem, first_difference
from companion.autopilot.operation import Timing
from companion.autopilot.vehicle_state import LinkEventKind
from companion.transport import Transport
from dialects import event
from sitl.vehicle.double import VehicleDouble
from sitl.vehicle.serve import run_double
from tests.companion.autopilot import events
from tests.companion.autopilot.events import HOME_LAT, HOME_LON, route
from tests.companion.autopilot.fc import US
from tests.companion.autopilot.harness import LossyTransport, StreamTransport

METRES_PER_DEGREE = 111_320.0
READY = 40.0


@dataclass
class Rig:
    double: VehicleDouble
    adapter: AutopilotAdapter
    executor: CommandExecutor
    transport: Transport

    async def command(self, bundle: list[Any]) -> tuple[int, str]:
        ack = await self.executor.execute(bundle)
        assert ack is not None
        assert ack.seq == bundle[0].seq
        return ack.outcome, ack.reason

    async def until(self, condition: Callable[[], bool], within: float) -> None:
        """Wait (in virtual time) for `condition`, failing after `within` seconds."""
        with trio.fail_after(within):
            while not condition():
                await trio.sleep(0.1)

    async def until_ready(self) -> None:
        await self.until(lambda: self.adapter.state.gps_ok, READY + 5)


@asynccontextmanager
async def rig(
    *, lossy: float = 0.0, seed: int = 1, timing: Timing | None = None
) -> AsyncIterator[Rig]:
    ours, theirs = trio.testing.memory_stream_pair()
    double = VehicleDouble(ready_after=READY)
    transport: Transport = StreamTransport(ours)
    if lossy:
        transport = LossyTransport(transport, loss=lossy, seed=seed)
    adapter = AutopilotAdapter(transport, system_id=US, timing=timing)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_double, double, theirs)
        nursery.start_soon(adapter.run)
        assert await adapter.wait_connected()
        yield Rig(double, adapter, CommandExecutor(adapter), transport)
        nursery.cancel_scope.cancel()


def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    north = (a[0] - b[0]) * METRES_PER_DEGREE
    east = (a[1] - b[1]) * METRES_PER_DEGREE * math.cos(math.radians(a[0]))
    return math.hypot(north, east)


def stored(double: VehicleDouble) -> list[MissionItem]:
    """The double's mission, item 0 home, in the adapter's terms."""
    return [
        MissionItem(
            command=item.command,
            frame=item.frame,
            x=item.x,
            y=item.y,
            z=item.z,
            param1=item.param1,
            param2=item.param2,
            param3=item.param3,
            param4=item.param4,
            autocontinue=item.autocontinue,
        )
        for item in double.mission
    ]


async def test_a_mission_ending_in_rtl_reads_back_and_starts(autojump_clock: object) -> None:
    """The RTL item comes back without frame or position, as ArduPilot stores it."""
    async with rig() as r:
        await r.until_ready()
        rtl = (0, 0, 0, event.EVENT_ITEM_RTL, 0)
        assert (await r.command(events.assign([*route(3), rtl], seq=1, speed=180))) == (
            event.EVENT_OUTCOME_COMPLETED,
            "mission started in AUTO",
        )
        assert r.double.mission[-1].frame == event.MAV_FRAME_GLOBAL


async def test_mission_flown_then_retask_then_abort(autojump_clock: object) -> None:
    async with rig() as r:
        await r.until_ready()
        assert (await r.command(events.assign(route(20), seq=1))) == (
            event.EVENT_OUTCOME_COMPLETED,
            "mission started in AUTO",
        )
        assert r.adapter.mission is not None
        assert first_difference(r.adapter.mission, stored(r.double)) is None
        result, read_back = await r.adapter.download_mission()
        assert result.ok
        assert first_difference(r.adapter.mission, read_back) is None
        assert (r.double.mode, r.double.armed, r.adapter.state.mode) == ("AUTO", True, "AUTO")

        await r.until(lambda: r.adapter.state.mission_reached == 20, within=120)
        assert r.adapter.state.items_reached == list(range(1, 21))
        last = route(20)[-1]
        assert distance(r.double.position[:2], (last[0] / 1e7, last[1] / 1e7)) < 1.0

        target = (HOME_LAT + 4000, HOME_LON - 2000)
        outcome, reason = await r.command(events.reposition(*target, 300, seq=2))
        assert outcome == event.EVENT_OUTCOME_COMPLETED
        assert reason == "to -35.36286,149.16503 at 30 m"
        assert r.double.mode == "GUIDED"
        point = (target[0] / 1e7, target[1] / 1e7)
        await r.until(lambda: distance(r.double.position[:2], point) < 1.0, within=60)
        assert abs(r.double.position[2] - 30.0) < 0.5

        assert (await r.command(events.abort(event.EVENT_ABORT_ACTION_RTL, seq=3))) == (
            event.EVENT_OUTCOME_COMPLETED,
            "mode RTL",
        )
        await r.until(lambda: not r.double.armed, within=120)
        assert r.double.landed
        assert distance(r.double.position[:2], (HOME_LAT / 1e7, HOME_LON / 1e7)) < 1.0
        await r.until(lambda: not r.adapter.state.armed, within=2)
        assert r.executor.outcomes == {event.EVENT_OUTCOME_COMPLETED: 3}


async def test_twenty_percent_frame_loss_both_ways_still_uploads(autojump_clock: object) -> None:
    async with rig(lossy=0.2, seed=7) as r:
        outcome, reason = await r.command(events.assign(route(20), flags=0, seq=1))
        assert (outcome, reason) == (
            event.EVENT_OUTCOME_COMPLETED,
            "20 items uploaded and verified",
        )
        assert r.adapter.mission is not None
        assert first_difference(r.adapter.mission, stored(r.double)) is None
        lossy = r.transport
        assert isinstance(lossy, LossyTransport)
        assert lossy.dropped_out > 0
        assert lossy.dropped_in > 0
        sent = lossy.dropped_out + lossy.passed_out
        assert 0.1 < lossy.dropped_out / sent < 0.3


async def test_abort_preempts_an_upload_on_a_lossy_link(autojump_clock: object) -> None:
    async with rig(lossy=0.2, seed=3) as r:
        acks: dict[int, tuple[tuple[int, str], float]] = {}

        async def run(bundle: list[Any]) -> None:
            acks[bundle[0].seq] = (await r.command(bundle), trio.current_time())

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, events.assign(route(20), flags=0, seq=1))
            await trio.sleep(0.5)
            nursery.start_soon(run, events.abort(event.EVENT_ABORT_ACTION_LAND, seq=2))
        assert acks[1][0] == (event.EVENT_OUTCOME_FAILED, "preempted by abort")
        assert acks[1][1] - start == 0.5
        assert acks[2][0] == (event.EVENT_OUTCOME_COMPLETED, "mode LAND")
        assert r.double.mode == "LAND"


async def test_arming_before_the_double_is_ready(autojump_clock: object) -> None:
    async with rig() as r:
        outcome, reason = await r.command(events.assign(route(3), seq=1))
        assert (outcome, reason) == (event.EVENT_OUTCOME_NOT_ARMABLE, "Arm: Need Alt Estimate")
        assert not r.double.armed
        # The EKF has an origin but no position yet: that is a missing fix.
        await r.until(lambda: r.adapter.state.lat is not None, within=READY)
        outcome, reason = await r.command(events.assign(route(3), seq=2))
        assert (outcome, reason) == (event.EVENT_OUTCOME_NO_GPS_FIX, "Arm: Need Position Estimate")
        await r.until_ready()
        outcome, _ = await r.command(events.assign(route(3), seq=3))
        assert outcome == event.EVENT_OUTCOME_COMPLETED
        assert r.double.armed


async def test_jump_within_the_mission(autojump_clock: object) -> None:
    async with rig() as r:
        await r.until_ready()
        outcome, _ = await r.command(events.assign(route(8), seq=1, speed=50))
        assert outcome == event.EVENT_OUTCOME_COMPLETED
        assert r.double.mission[1].command == event.MAV_CMD_DO_CHANGE_SPEED
        await r.until(lambda: r.adapter.state.mission_reached == 3, within=60)
        outcome, reason = await r.command(events.jump(6, seq=2))
        assert (outcome, reason) == (event.EVENT_OUTCOME_COMPLETED, "current item 8")
        assert r.double.current_seq == 8  # EVENT item 6 after home and the speed item
        outcome, reason = await r.command(events.jump(8, seq=3))
        assert (outcome, reason) == (event.EVENT_OUTCOME_INVALID, "no item 8 in a 8-item mission")


async def test_parameters(autojump_clock: object) -> None:
    async with rig() as r:
        int8, int32 = event.MAV_PARAM_TYPE_INT8, event.MAV_PARAM_TYPE_INT32
        real32 = event.MAV_PARAM_TYPE_REAL32
        outcome, reason = await r.command(events.param_update(b"FENCE_ENABLE", 1, int8, seq=1))
        assert (outcome, reason) == (event.EVENT_OUTCOME_COMPLETED, "FENCE_ENABLE=1")
        assert r.double.params["FENCE_ENABLE"] == 1
        outcome, _ = await r.command(events.param_update(b"WPNAV_SPEED", 750.5, real32, seq=2))
        assert outcome == event.EVENT_OUTCOME_COMPLETED
        assert r.double.params["WPNAV_SPEED"] == 750.5
        outcome, reason = await r.command(events.param_update(b"NO_SUCH_PARAM", 1, int8, seq=3))
        assert (outcome, reason) == (event.EVENT_OUTCOME_INVALID, "unknown parameter NO_SUCH_PARAM")
        outcome, reason = await r.command(events.param_update(b"FENCE_ENABLE", 0, int32, seq=4))
        assert (outcome, reason) == (event.EVENT_OUTCOME_INVALID, "FENCE_ENABLE is INT8, not INT32")
        assert r.double.params["FENCE_ENABLE"] == 1


async def test_bad_inputs_are_invalid_and_the_adapter_carries_on(autojump_clock: object) -> None:
    async with rig() as r:
        bad = [
            events.assign(route(201), seq=1),
            events.assign(route(4), item_count=3, seq=2),
            events.assign([(HOME_LAT, 1_900_000_000, 200, event.EVENT_ITEM_WAYPOINT, 0)], seq=3),
            events.abort(5, seq=4),
            events.reposition(HOME_LAT, HOME_LON, -10, seq=5),
            events.param_update(b"FENCE_ENABLE", 1000, event.MAV_PARAM_TYPE_INT8, seq=6),
        ]
        for bundle in bad:
            outcome, _ = await r.command(bundle)
            assert outcome == event.EVENT_OUTCOME_INVALID
            assert r.adapter.state.connected
        assert r.double.counters["commands"] == 0  # none of it reached the autopilot
        outcome, _ = await r.command(events.assign(route(2), flags=0, seq=7))
        assert outcome == event.EVENT_OUTCOME_COMPLETED
        assert len(r.double.mission) == 3


async def test_autopilot_rebooting_mid_upload_gets_the_whole_mission(
    autojump_clock: object,
) -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    changes: list[LinkEventKind] = []
    adapter = AutopilotAdapter(
        LossyTransport(StreamTransport(ours), loss=0.2, seed=5),
        system_id=US,
        on_link_event=lambda change: changes.append(change.kind),
    )
    first, second = VehicleDouble(ready_after=READY), VehicleDouble(ready_after=READY)
    executor = CommandExecutor(adapter)
    acks: list[Any] = []

    async def assign() -> None:
        acks.append(await executor.execute(events.assign(route(20), flags=0, seq=1)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(adapter.run)
        first_life = trio.CancelScope()
        nursery.start_soon(_run_until, first, theirs, first_life)
        await trio.sleep(60.0)  # up for a minute
        nursery.start_soon(assign)
        await trio.sleep(3.0)
        first_life.cancel()  # power cut mid-upload
        assert not acks
        await trio.sleep(2.0)  # booting: silent, but not long enough to lose the link
        nursery.start_soon(run_double, second, theirs)
        with trio.fail_after(60):
            while not acks:
                await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    assert (acks[0].outcome, acks[0].reason) == (
        event.EVENT_OUTCOME_COMPLETED,
        "20 items uploaded and verified",
    )
    assert changes == [LinkEventKind.CONNECTED, LinkEventKind.REBOOTED]
    assert adapter.mission is not None
    assert first_difference(adapter.mission, stored(second)) is None


async def _run_until(
    double: VehicleDouble, stream: trio.abc.Stream, scope: trio.CancelScope
) -> None:
    with scope:
        await run_double(double, stream)


async def test_hold_stops_the_vehicle_in_auto_and_in_guided(autojump_clock: object) -> None:
    hold = event.EVENT_ABORT_ACTION_HOLD
    async with rig() as r:
        await r.until_ready()
        outcome, _ = await r.command(events.assign(route(20), seq=1))
        assert outcome == event.EVENT_OUTCOME_COMPLETED
        await r.until(lambda: r.adapter.state.mission_reached == 2, within=60)
        assert (await r.command(events.abort(hold, seq=2))) == (
            event.EVENT_OUTCOME_COMPLETED,
            "mode GUIDED",
        )
        stopped = r.double.position
        await trio.sleep(10.0)
        assert distance(r.double.position[:2], stopped[:2]) < 5.0
        assert r.adapter.state.mission_reached == 2

        target = (HOME_LAT + 20_000, HOME_LON)  # 220 m north
        outcome, _ = await r.command(events.reposition(*target, 300, seq=3))
        assert outcome == event.EVENT_OUTCOME_COMPLETED
        await trio.sleep(3.0)
        # Already GUIDED: a hold is a reposition to where it is.
        outcome, reason = await r.command(events.abort(hold, seq=4))
        assert outcome == event.EVENT_OUTCOME_COMPLETED
        assert reason.startswith("holding at -35.36")
        held = r.double.position
        await trio.sleep(30.0)
        assert distance(r.double.position[:2], held[:2]) < 5.0
        assert r.double.mode == "GUIDED"
