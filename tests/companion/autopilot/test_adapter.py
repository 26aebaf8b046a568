"""The trio adapter against flight controllers that are missing, mute or go silent."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing
from pymavlink import mavutil

from companion.autopilot.adapter import AbortAction
from companion.autopilot.tlog import TlogWriter
from companion.autopilot.vehicle_state import LinkEvent, LinkEventKind
from dialects import event
from tests.companion.autopilot.fc import US, waypoints
from tests.companion.autopilot.harness import MuteAutopilot, adapter_with


async def test_no_autopilot_is_unavailable_after_the_connect_timeout(
    autojump_clock: object,
) -> None:
    async with adapter_with(None, connect_timeout=10.0) as adapter:
        start = trio.current_time()
        result = await adapter.assign_mission(waypoints(3), start=False)
        assert trio.current_time() - start == 10.0
        assert result.outcome == event.EVENT_OUTCOME_AUTOPILOT_UNAVAILABLE
        assert result.reason == "no HEARTBEAT from autopilot"
        result = await adapter.abort(AbortAction.RTL)
        assert result.outcome == event.EVENT_OUTCOME_AUTOPILOT_UNAVAILABLE
        assert not adapter.state.connected


async def test_mute_autopilot_times_out_and_the_adapter_keeps_running(
    autojump_clock: object,
) -> None:
    fc = MuteAutopilot()
    async with adapter_with(fc) as adapter:
        assert await adapter.wait_connected()
        start = trio.current_time()
        result = await adapter.abort(AbortAction.RTL)
        assert trio.current_time() - start == 9.0  # 1.5 s, then 5 resends
        assert result.outcome == event.EVENT_OUTCOME_TIMEOUT
        assert result.reason == "mode RTL: no COMMAND_ACK"
        upload = await adapter.upload_mission(waypoints(2))
        assert upload.outcome == event.EVENT_OUTCOME_TIMEOUT
        assert upload.reason == "mission upload: no MISSION_COUNT answer"
        param = await adapter.set_param("RTL_ALT", 1500, event.MAV_PARAM_TYPE_INT32)
        assert param.outcome == event.EVENT_OUTCOME_INVALID
        assert param.reason == "unknown parameter RTL_ALT"
        assert adapter.state.connected
        assert fc.received > 0


async def test_link_loss_is_reported_and_the_command_ends_unavailable(
    autojump_clock: object,
) -> None:
    changes: list[LinkEvent] = []
    fc = MuteAutopilot()
    async with adapter_with(fc, link_timeout=3.0, on_link_event=changes.append) as adapter:
        assert await adapter.wait_connected()

        async def silence() -> None:
            await trio.sleep(2.5)  # between heartbeats: the last is sent at 2 s
            fc.beating = False

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(silence)
            result = await adapter.abort(AbortAction.LAND)
        assert trio.current_time() - start == 9.0  # its retries ran out with the link down
        assert result.outcome == event.EVENT_OUTCOME_AUTOPILOT_UNAVAILABLE
        assert result.reason == "mode LAND: autopilot link lost"
        assert not adapter.state.connected
        fc.beating = True
        assert await adapter.wait_connected(timeout=2.0)
        kinds = [change.kind for change in changes]
        assert kinds == [LinkEventKind.CONNECTED, LinkEventKind.LOST, LinkEventKind.RESTORED]
        assert changes[1].at - changes[0].at == 5.0  # the last heartbeat + 3 s


async def test_the_link_is_recorded_in_a_tlog(
    autojump_clock: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAVLINK20", "1")  # mavutil sets it on the first MAVLink 2 frame
    path = tmp_path / "fc.tlog"
    fc = MuteAutopilot()
    with TlogWriter(path) as tlog:
        async with adapter_with(fc, tlog=tlog, wall_clock=lambda: 1.75e9) as adapter:
            assert await adapter.wait_connected()
            await trio.sleep(3.5)
    log = mavutil.mavlink_connection(str(path))
    try:
        seen = set()
        while (message := log.recv_match()) is not None:
            seen.add((message.get_type(), message.get_srcSystem()))
    finally:
        log.close()
    assert ("HEARTBEAT", 1) in seen  # the autopilot's
    assert ("HEARTBEAT", US) in seen  # ours
    assert ("COMMAND_LONG", US) in seen  # the message-rate requests
