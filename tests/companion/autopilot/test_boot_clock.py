"""Reboots of the flight controller as its boot clock shows them (issue 17): a message with
an old time_boot_ms is no reboot unless the next one agrees, and the link's changes are
logged at a bounded rate. The adapter against the vehicle double on the autojump clock,
hostile frames slipped into the double's stream as the vehicle's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from companion.autopilot.adapter import AutopilotAdapter
from companion.autopilot.mission_protocol import MissionItem
from companion.autopilot.vehicle_state import LinkEventKind, StateTracker
from dialects import event
from sitl.vehicle.double import VehicleDouble
from sitl.vehicle.serve import run_double
from tests.companion.autopilot.fc import US, from_fc, global_position, heartbeat
from tests.companion.autopilot.harness import StreamTransport
from tests.companion.autopilot.test_hostile_autopilot import Injector

SYSID, COMP = 1, 1
"""The double's ids (its defaults)."""
FROM_VEHICLE = event.MAVLink(None, SYSID, COMP)


def old_position(time_boot_ms: int) -> bytes:
    """A GLOBAL_POSITION_INT from the vehicle's ids with a boot clock of our choosing."""
    frame: bytes = global_position(lat=-35.36, lon=149.16, time_boot_ms=time_boot_ms).pack(
        FROM_VEHICLE
    )
    return frame


@asynccontextmanager
async def vehicle() -> AsyncIterator[tuple[AutopilotAdapter, Injector]]:
    """The adapter connected to a double (up for a minute), and the double's end of the wire."""
    ours, theirs = trio.testing.memory_stream_pair()
    injector = Injector(theirs)
    adapter = AutopilotAdapter(StreamTransport(ours), system_id=US)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_double, VehicleDouble(ready_after=1.0), injector)
        nursery.start_soon(adapter.run)
        assert await adapter.wait_connected()
        await trio.sleep(60.0)
        yield adapter, injector
        nursery.cancel_scope.cancel()


def link_lines(caplog: pytest.LogCaptureFixture, kind: str) -> list[str]:
    lines = (r.getMessage() for r in caplog.records)
    return [line for line in lines if line.startswith(f"event=autopilot_link kind={kind}")]


async def test_old_boot_clocks_one_at_a_time_are_no_reboot(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    items = [MissionItem(event.MAV_CMD_NAV_WAYPOINT, x=-353_600_000, y=1_491_600_000, z=30.0)]
    async with vehicle() as (adapter, injector):
        assert (await adapter.upload_mission(items)).ok
        for _ in range(76):
            await injector.send_all(old_position(0))
            await trio.sleep(1.0)  # the double's own positions come between
        assert adapter.state.reboots == 0
        assert adapter.connection.tracker.clock_outliers == 76
        assert adapter.mission is not None, "the mission is not forgotten"
        assert link_lines(caplog, "rebooted") == []


async def test_a_boot_clock_that_stays_back_is_one_reboot_logged_once(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    changes: list[Any] = []
    async with vehicle() as (adapter, injector):
        adapter.on_link_event = lambda change: changes.append(change.kind)
        for _ in range(3):
            await injector.send_all(old_position(100) + old_position(300))
            await trio.sleep(5.0)
        assert adapter.state.reboots == 3
        assert changes == [LinkEventKind.REBOOTED] * 3
        assert link_lines(caplog, "rebooted") == ["event=autopilot_link kind=rebooted"]


def test_the_next_message_decides_whether_the_clock_stepped() -> None:
    tracker = StateTracker()
    tracker.receive(from_fc(heartbeat()), 0.0)

    def clock(ms: int, now: float) -> None:
        tracker.receive(from_fc(global_position(time_boot_ms=ms)), now)

    clock(600_000, 1.0)
    clock(0, 1.1)  # an old clock, alone
    clock(600_200, 1.2)
    clock(2**32 - 1, 1.3)  # a clock from the far future, alone
    clock(600_400, 1.4)
    clock(600_600, 1.5)
    assert (tracker.state.reboots, tracker.clock_outliers) == (0, 2)
    clock(660_000, 61.0)  # after a silence: ahead, and the next agrees
    clock(660_250, 61.2)
    clock(1_000, 70.0)  # rebooted: back, and the next agrees
    clock(1_250, 70.2)
    assert (tracker.state.reboots, tracker.clock_outliers) == (1, 2)
