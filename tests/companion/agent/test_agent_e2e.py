"""The agent end to end: sealed commands from the ground fly the vehicle double; detections
from the detector's JSON lines reach the ground with the vehicle's position."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from companion.agent.agent import Agent
from companion.agent.config import AgentConfig, Endpoint
from companion.agent.linkloss import Action
from companion.autopilot.adapter import AutopilotAdapter
from companion.autopilot.identity import Mismatch
from companion.node import NodeStack
from companion.outbox import open_outbox
from companion.outbox.sync import OutboxSync, valid_bundle
from companion.reliability.events import Acknowledged
from companion.runtime import StackRuntime
from companion.security.certificate import Role
from dialects import event
from groundstation.commands import parse_command, to_messages
from sitl.radio import RadioConfig, RadioMedium, Stationary
from sitl.vehicle.double import VehicleDouble
from sitl.vehicle.serve import run_double
from tests.companion.autopilot.harness import StreamTransport
from tests.companion.autopilot.test_hostile_autopilot import Injector
from tests.companion.security.fleet import NOW_WALL, Fleet

GS, UAV = 255, 1
HOME = (-35.363261, 149.165230, 584.0)
LINK_KEY = bytes(range(5, 37))
DISK = 0.002
"""Real seconds of idleness before the mock clock jumps: room for the outbox's commits."""


def wall() -> float:
    return NOW_WALL + trio.current_time()


@dataclass
class World:
    ground: StackRuntime
    agent: Agent
    double: VehicleDouble
    wire: Injector
    """The double's end of the autopilot link, for frames slipped in as if it sent them."""

    def acks(self) -> list[Acknowledged]:
        return [e for e in self.ground.stack.events if isinstance(e, Acknowledged)]

    async def command(self, obj: dict[str, Any], *, limit: float = 600.0) -> list[int]:
        """Send a cloud-style command; wait for its final outcome; all outcomes, in order."""
        head, attached = to_messages(parse_command(obj))
        seq = self.ground.send(UAV, head, attached=attached)
        with trio.fail_after(limit):
            while True:
                outcomes = [a.outcome for a in self.acks() if a.seq == seq]
                if outcomes and outcomes[-1] != event.EVENT_OUTCOME_ACCEPTED:
                    return outcomes
                await trio.sleep(1)


def agent_config(tmp_path: Path) -> AgentConfig:
    return AgentConfig(
        node_id=UAV,
        keys=tmp_path,
        link_key=LINK_KEY,
        state_dir=tmp_path,
        ground_station=GS,
        radio=Endpoint("udp", "127.0.0.1", 1),
        autopilot=Endpoint("tcp", "127.0.0.1", 5760),
        tlog=False,
        detector=Endpoint("udp", "127.0.0.1", 0),
        detection_keep_for=86400.0,
        telemetry_interval=2.0,
        status_interval=10.0,
        link_loss_action=Action.CONTINUE,
        link_loss_timeout=120.0,
    )


@asynccontextmanager
async def world(
    fleet: Fleet,
    tmp_path: Path,
    *,
    autopilot_id: int = UAV,
    on_mismatch: Mismatch = Mismatch.WARN,
) -> AsyncIterator[World]:
    medium = RadioMedium(seed=3, config=RadioConfig(range_m=2000.0))
    ground_stack = NodeStack(fleet.identity(GS, Role.GROUND_STATION), LINK_KEY, gateway=True)
    ground = StackRuntime(
        ground_stack, medium.attach(GS, Stationary((0.0, 0.0, 0.0))), wall_clock=wall
    )
    uav_stack = NodeStack(fleet.identity(UAV, Role.UAV), LINK_KEY)
    radio = medium.attach(UAV, Stationary((300.0, 0.0, 50.0)))
    runtime = StackRuntime(uav_stack, radio, wall_clock=wall)
    double = VehicleDouble(system_id=autopilot_id, home=HOME, ready_after=5.0)
    ours, theirs = trio.testing.memory_stream_pair()
    adapter = AutopilotAdapter(StreamTransport(ours), system_id=UAV, wall_clock=wall)
    async with (
        open_outbox(tmp_path / "outbox.db", validate=valid_bundle, clock=wall) as outbox,
        trio.open_nursery() as nursery,
    ):
        sync = OutboxSync(outbox, runtime)
        config = replace(agent_config(tmp_path), autopilot_id_mismatch=on_mismatch)
        agent = Agent(config, runtime, sync, adapter, wall_clock=wall)
        adapter.on_link_event = agent.on_link_event
        runtime.on_event = sync.on_event
        runtime.on_arrival = agent.on_arrival
        nursery.start_soon(ground.run)
        wire = Injector(theirs)
        nursery.start_soon(run_double, double, wire)
        await nursery.start(agent.run)
        yield World(ground, agent, double, wire)
        nursery.cancel_scope.cancel()


def survey(n: int) -> list[dict[str, Any]]:
    """`n` waypoints on a lawnmower pattern about 40 m apart, 30 m up."""
    lat0, lon0, _ = HOME
    items = []
    for i in range(n):
        row, col = divmod(i, 5)
        col = col if row % 2 == 0 else 4 - col
        items.append(
            {
                "lat": lat0 + 0.00036 * (row + 1),
                "lon": lon0 + 0.00044 * col,
                "alt": 30.0,
                "command": "waypoint",
            }
        )
    return items


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    north = (a[0] - b[0]) * 111_320
    east = (a[1] - b[1]) * 111_320 * math.cos(math.radians(a[0]))
    return math.hypot(north, east)


async def test_mission_retask_and_abort_from_the_ground(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    items = survey(20)
    async with world(fleet, tmp_path) as w:
        await trio.sleep(20)  # routes form; the double becomes ready
        outcomes = await w.command(
            {
                "command_id": "m7",
                "uav": UAV,
                "type": "mission_assign",
                "params": {"mission_id": 7, "items": items, "start": True, "takeoff": True},
            }
        )
        assert outcomes == [event.EVENT_OUTCOME_ACCEPTED, event.EVENT_OUTCOME_COMPLETED]
        stored = [(m.x, m.y, round(m.z, 1)) for m in w.double.mission[1:]]
        wanted = [(round(i["lat"] * 1e7), round(i["lon"] * 1e7), 30.0) for i in items]
        assert stored[-len(wanted) :] == wanted, "the double holds the mission as commanded"
        assert w.double.mode == "AUTO"
        with trio.fail_after(900):
            while w.double.current_seq < len(w.double.mission) - 1:
                await trio.sleep(5)
        last = items[-1]
        with trio.fail_after(120):
            while metres(w.double.position[:2], (last["lat"], last["lon"])) > 5:
                await trio.sleep(2)

        target = (HOME[0] + 0.0009, HOME[1] + 0.0009)
        outcomes = await w.command(
            {
                "command_id": "r1",
                "uav": UAV,
                "type": "retask",
                "params": {"lat": target[0], "lon": target[1], "alt": 40.0},
            }
        )
        assert outcomes[-1] == event.EVENT_OUTCOME_COMPLETED
        assert w.double.mode == "GUIDED"
        with trio.fail_after(300):
            while metres(w.double.position[:2], target) > 5:
                await trio.sleep(2)

        outcomes = await w.command(
            {"command_id": "a1", "uav": UAV, "type": "mission_abort", "params": {"action": "rtl"}}
        )
        assert outcomes[-1] == event.EVENT_OUTCOME_COMPLETED
        assert w.double.mode == "RTL"
        with trio.fail_after(600):
            while w.double.armed:
                await trio.sleep(5)
        assert metres(w.double.position[:2], HOME[:2]) < 5, "home, landed and disarmed"
    assert json.loads((tmp_path / "running.json").read_text())["running"] == [], "finished"


async def test_a_command_a_restart_interrupted_is_answered_failed(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The agent had accepted a retask (seq 77) and was killed running it: at the next
    start its sender hears FAILED instead of waiting on ACCEPTED for ever, and hears it
    again with the next status reports (an EVENT_ACK may be lost)."""
    mock_clock.autojump_threshold = DISK
    left = {"running": [[GS, 77, event.EVENT_MSG_TYPE_RETASK]], "outcomes": []}
    (tmp_path / "running.json").write_text(json.dumps(left))
    async with world(fleet, tmp_path) as w:
        with trio.fail_after(120):
            while not [a for a in w.acks() if a.seq == 77]:
                await trio.sleep(1)
        (ack,) = [a for a in w.acks() if a.seq == 77]
        assert ack.outcome == event.EVENT_OUTCOME_FAILED
        assert "interrupted" in ack.reason
        assert w.agent.counters["commands_interrupted"] == 1
        assert json.loads((tmp_path / "running.json").read_text())["running"] == []
        await trio.sleep(25)  # two status reports: the outcome goes again with each
        assert w.ground.stack.reliable.counters["ack_duplicate"] >= 2
        statuses = [
            a.messages[0]
            for a in w.ground.stack.arrived
            if a.messages[0].get_msgId() == event.MAVLINK_MSG_ID_EVENT_STATUS
        ]
        last = statuses[-1]
        assert (last.last_source, last.last_seq, last.last_outcome) == (GS, 77, ack.outcome)
        assert last.last_reason == ack.reason, "a ground station recovering it gets the reason"


RTL_ALT = {"command_id": "p1", "uav": UAV, "type": "param_update"}
RTL_ALT["params"] = {"name": "RTL_ALT", "value": 2500, "type": "int32"}


@pytest.mark.parametrize("on_mismatch", list(Mismatch))
async def test_an_autopilot_on_another_system_id_is_warned_shown_and_refused_if_set(
    fleet: Fleet,
    mock_clock: trio.testing.MockClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    on_mismatch: Mismatch,
) -> None:
    """Node 1's autopilot left on system id 7: one warning, the id in status.json, and
    with "refuse" every command answered AUTOPILOT_UNAVAILABLE, none run."""
    mock_clock.autojump_threshold = DISK
    caplog.set_level(logging.INFO, logger="event.agent")
    async with world(fleet, tmp_path, autopilot_id=7, on_mismatch=on_mismatch) as w:
        await trio.sleep(20)  # routes form; the double becomes ready; a status is written
        outcomes = await w.command(RTL_ALT)
        await trio.sleep(10)
    warned = [r for r in caplog.records if "event=autopilot_system_id" in r.getMessage()]
    assert [r.levelno for r in warned] == [logging.WARNING], "once, not each HEARTBEAT"
    assert "system_id=7 previous=None expected=1 matches=False" in warned[0].getMessage()
    assert "MAV_SYSID" in warned[0].getMessage()
    shown = json.loads((tmp_path / "status.json").read_text())["autopilot"]
    assert shown == {
        "system_id": 7,
        "expected": 1,
        "matches": False,
        "on_mismatch": on_mismatch.value,
    }
    if on_mismatch is Mismatch.WARN:
        assert outcomes[-1] == event.EVENT_OUTCOME_COMPLETED
        assert w.double.params["RTL_ALT"] == 2500
    else:
        assert outcomes[-1] == event.EVENT_OUTCOME_AUTOPILOT_UNAVAILABLE
        assert w.acks()[-1].reason == "autopilot is system 7, not 1"
        assert w.double.params["RTL_ALT"] == 1500, "not commanded"
        assert w.agent.executor.counters["refused"] == 1


async def test_an_autopilot_on_the_node_id_is_logged_once_at_info(
    fleet: Fleet,
    mock_clock: trio.testing.MockClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mock_clock.autojump_threshold = DISK
    caplog.set_level(logging.INFO, logger="event.agent")
    async with world(fleet, tmp_path):
        await trio.sleep(20)
    heard = [r for r in caplog.records if "event=autopilot_system_id" in r.getMessage()]
    assert [r.levelno for r in heard] == [logging.INFO]
    assert "system_id=1 previous=None expected=1 matches=True" in heard[0].getMessage()
    assert json.loads((tmp_path / "status.json").read_text())["autopilot"]["matches"] is True


async def test_detector_lines_reach_the_ground_with_the_vehicle_position(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    async with world(fleet, tmp_path) as w:
        await trio.sleep(20)
        port = w.agent.detection_port
        assert port is not None
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with sock:
            lines = [
                {"class_id": 3, "confidence": 0.9, "bbox": [1, 2, 3, 4], "track_id": t}
                for t in (11, 12)
            ]
            data = "\n".join([json.dumps(lines[0]), "{not json", json.dumps(lines[1])])
            await sock.sendto(data.encode(), ("127.0.0.1", port))
            with trio.fail_after(120):
                while len(_detections(w.ground)) < 2:
                    await trio.sleep(1)
        got = _detections(w.ground)
        assert sorted(d.track_id for d in got) == [11, 12]
        for detection in got:
            assert (detection.lat, detection.lon) == (round(HOME[0] * 1e7), round(HOME[1] * 1e7))
            assert detection.time > 0
        assert w.agent.intake.counters == {"accepted": 2, "refused": 1}


async def test_status_json_counts_what_the_autopilot_link_refused(
    fleet: Fleet,
    mock_clock: trio.testing.MockClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Noise, another system's frame, a home off the globe and one position with an old
    boot clock on the flight controller's wire: each counted under `autopilot_link`, and
    no reboot (the mission is kept)."""
    mock_clock.autojump_threshold = DISK
    vehicle, other = event.MAVLink(None, UAV, 1), event.MAVLink(None, 99, 1)
    hostile = [
        b"\xfd\x09garbage" * 4,
        event.MAVLink_statustext_message(event.MAV_SEVERITY_INFO, b"not ours").pack(other),
        event.MAVLink_home_position_message(
            2_140_000_000, 0, 0, 0, 0, 0, [1.0, 0, 0, 0], 0, 0, 0
        ).pack(vehicle),
        event.MAVLink_global_position_int_message(0, 0, 0, 0, 0, 0, 0, 0, 0).pack(vehicle),
    ]
    async with world(fleet, tmp_path) as w:
        await trio.sleep(20)
        assign = {"command_id": "m1", "uav": UAV, "type": "mission_assign"}
        assign["params"] = {"mission_id": 1, "items": survey(3)}
        assert (await w.command(assign))[-1] == event.EVENT_OUTCOME_COMPLETED
        before = w.agent.snapshot()["autopilot_link"]
        for frame in hostile:
            await w.wire.send_all(frame)
        await trio.sleep(25)  # the double's stream goes on; two status reports are written
        assert w.agent.adapter.mission is not None, "no reboot: the mission is kept"
    shown = json.loads((tmp_path / "status.json").read_text())["autopilot_link"]
    assert shown["connected"] is True
    assert shown["drops"]
    assert shown["skipped_bytes"] > 0
    counted = ("not_from_vehicle", "out_of_range", "clock_outliers", "reboots", "links_lost")
    assert {k: shown[k] - before[k] for k in counted} == {
        "not_from_vehicle": 1,
        "out_of_range": 1,
        "clock_outliers": 1,
        "reboots": 0,
        "links_lost": 0,
    }
    assert shown["frames_received"] > shown["frames_sent"] > 0
    assert not [r for r in caplog.records if "kind=rebooted" in r.getMessage()]


def _detections(ground: StackRuntime) -> list[Any]:
    return [
        a.messages[0]
        for a in ground.stack.arrived
        if a.messages[0].get_msgId() == event.MAVLINK_MSG_ID_EVENT_DETECTION
    ]
