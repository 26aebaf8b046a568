"""The agent end to end against real ArduPilot SITL, when `EVENT_ARDUPILOT_BINARY` names an
arducopter binary: the same flow as the vehicle double's test (a sealed 20-waypoint
mission assign, read back and flown in AUTO, a retask, an abort to RTL), on the real
clock, over real sockets (SITL's TCP 5760 + 10 * instance; the radio as UDP on loopback).
Skipped, with the reason printed, without a binary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import trio

from companion.agent.agent import Agent
from companion.agent.assembly import open_agent
from companion.agent.config import load_config
from companion.node import NodeStack
from companion.reliability.events import Acknowledged
from companion.runtime import StackRuntime
from companion.security.keystore import load_node_keys
from companion.settings import Endpoint
from companion.transport import open_udp_bind
from dialects import event
from groundstation.commands import parse_command, to_messages
from sitl.provisioning import provision_fleet, write_agent_config
from sitl.vehicle.ardupilot import (
    SitlConfig,
    find_binary,
    free_instances,
    running_sitl,
    skip_reason,
)

from .test_agent_e2e import HOME, survey

UAV, GS = 1, 255
SPEEDUP = 5


@dataclass
class Ground:
    runtime: StackRuntime

    def telemetry(self) -> list[Any]:
        return [
            a.messages[0]
            for a in self.runtime.stack.arrived
            if a.messages[0].get_msgId() == event.MAVLINK_MSG_ID_EVENT_TELEMETRY
        ]

    def mode(self) -> int | None:
        found = self.telemetry()
        return found[-1].custom_mode if found else None

    async def command(self, obj: dict[str, Any], limit: float = 600.0) -> list[int]:
        head, attached = to_messages(parse_command(obj))
        seq = self.runtime.send(UAV, head, attached=attached)
        with trio.fail_after(limit):
            while True:
                outcomes = [
                    e.outcome
                    for e in self.runtime.stack.events
                    if isinstance(e, Acknowledged) and e.seq == seq
                ]
                if outcomes and outcomes[-1] != event.EVENT_OUTCOME_ACCEPTED:
                    return outcomes
                await trio.sleep(1)


@asynccontextmanager
async def flying(tmp_path: Path) -> AsyncIterator[tuple[Ground, Agent]]:
    files = provision_fleet(tmp_path / "fleet", (UAV,))
    [instance] = free_instances(1, first=4)
    sitl_config = SitlConfig(find_binary(), instance=instance, system_id=UAV, speedup=SPEEDUP)
    async with (
        running_sitl(sitl_config, workdir=tmp_path / "sitl") as sitl,
        open_udp_bind("127.0.0.1", 0) as radio,
    ):
        radio_port = radio.local_address[1]
        write_agent_config(
            files,
            UAV,
            radio=f"udp:127.0.0.1:{radio_port}",
            autopilot=f"tcp:127.0.0.1:{sitl.port}",
            detector_port=14699,
        )
        config = replace(
            load_config(files.agent_config(UAV)), detector=Endpoint("udp", "127.0.0.1", 0)
        )
        stack = NodeStack(load_node_keys(files.keys(GS)), config.link_key, gateway=True)
        ground = Ground(StackRuntime(stack, radio))
        async with open_agent(config) as agent, trio.open_nursery() as nursery:
            nursery.start_soon(ground.runtime.run)
            await nursery.start(agent.run)
            yield ground, agent
            nursery.cancel_scope.cancel()


def test_mission_retask_and_abort_on_ardupilot_sitl(tmp_path: Path) -> None:
    """A plain test that runs trio itself, so the skip reason reaches pytest's summary."""
    if reason := skip_reason():
        pytest.skip(f"{reason} (the same flow runs against the vehicle double)")
    trio.run(_mission_retask_abort, tmp_path)


async def _mission_retask_abort(tmp_path: Path) -> None:
    items = survey(20)
    async with flying(tmp_path) as (ground, agent):
        with trio.fail_after(300):  # SITL's EKF and GPS settle, routes form
            while not (agent.adapter.state.connected and ground.telemetry()):
                await trio.sleep(1)
            await trio.sleep(30)
        outcomes = await ground.command(
            {
                "command_id": "m7",
                "uav": UAV,
                "type": "mission_assign",
                "params": {"mission_id": 7, "items": items, "start": True, "takeoff": True},
            }
        )
        assert outcomes == [event.EVENT_OUTCOME_ACCEPTED, event.EVENT_OUTCOME_COMPLETED]
        with trio.fail_after(120):
            while ground.mode() != 3:  # AUTO
                await trio.sleep(1)
        target = (HOME[0] + 0.0009, HOME[1] + 0.0009)
        outcomes = await ground.command(
            {
                "command_id": "r1",
                "uav": UAV,
                "type": "retask",
                "params": {"lat": target[0], "lon": target[1], "alt": 40.0},
            }
        )
        assert outcomes[-1] == event.EVENT_OUTCOME_COMPLETED
        assert agent.adapter.state.mode == "GUIDED"
        outcomes = await ground.command(
            {"command_id": "a1", "uav": UAV, "type": "mission_abort", "params": {"action": "rtl"}}
        )
        assert outcomes[-1] == event.EVENT_OUTCOME_COMPLETED
        assert agent.adapter.state.mode == "RTL"
        with trio.fail_after(600):
            while agent.adapter.state.armed:
                await trio.sleep(2)
