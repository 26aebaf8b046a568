"""The agent against real ArduPilot SITL: one agent, its SITL, a ground station stack on
UDP loopback, and a second MAVLink connection to SITL that sees what the autopilot itself
says (its own mode, its own parameters), not what the agent reports.

Used by test_agent_sitl.py; every test there skips, with its reason, unless
`EVENT_ARDUPILOT_DIR` (or, for copter, `EVENT_ARDUPILOT_BINARY`) names real binaries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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
from sitl.vehicle.ardupilot import SitlConfig, find_binary, free_instances, running_sitl
from sitl.vehicle.ardupilot_defaults import Vehicle
from sitl.vehicle.sitl_vehicle import WATCHER, watch_requests
from sitl.vehicle.sitl_view import SitlView

UAV, GS = 1, 255
SPEEDUP = 5
SERIAL1 = 2
"""SITL serves SERIAL1 (MAVLink 2) on its SERIAL0 port + 2."""


@dataclass
class Ground:
    """The ground station's stack, commanding the one UAV."""

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
        """Send `obj` (the cloud's JSON form); the outcomes up to the first final one."""
        head, attached = to_messages(parse_command({"uav": UAV, **obj}))
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


class Autopilot:
    """A second MAVLink connection to SITL (SERIAL1): the autopilot's own word, kept as
    the world keeps it (`SitlView`), and the parameters it reports."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.mav = event.MAVLink(None, *WATCHER)  # a GCS of its own, not the agent's id
        self.parser = event.MAVLink(None)
        self.parser.robust_parsing = True
        self.view = SitlView()
        self.params: dict[str, float] = {}
        self._heard = trio.Event()

    async def read_loop(self) -> None:
        while data := await self.stream.receive_some():
            for message in self.parser.parse_buffer(data) or []:
                self.view.observe(message)
                if message.get_type() == "PARAM_VALUE":
                    self.params[message.param_id] = message.param_value
            self._heard.set()
            self._heard = trio.Event()

    async def ask_for_streams(self) -> None:
        """What the world's watcher asks for (SITL sends no position unasked here)."""
        for request in watch_requests(self.mav, UAV):
            await self.stream.send_all(request.pack(self.mav))

    async def wait_until(self, check: Callable[[SitlView], bool], limit: float = 120.0) -> None:
        with trio.fail_after(limit):
            while not check(self.view):
                await self._heard.wait()

    async def wait_mode(self, name: str, limit: float = 120.0) -> None:
        """Until the autopilot's own HEARTBEAT reports mode `name` (ArduPilot's name)."""
        await self.wait_until(lambda view: view.mode == name, limit)

    async def read_param(self, name: str, limit: float = 30.0) -> float:
        """PARAM_REQUEST_READ `name`, once a second until its PARAM_VALUE arrives."""
        self.params.pop(name, None)
        with trio.fail_after(limit):
            while name not in self.params:
                request = self.mav.param_request_read_encode(UAV, 1, name.encode(), -1)
                await self.stream.send_all(request.pack(self.mav))
                with trio.move_on_after(1):
                    while name not in self.params:
                        await self._heard.wait()
        return self.params[name]


@dataclass
class Flight:
    ground: Ground
    agent: Agent
    autopilot: Autopilot
    cut_radio: trio.CancelScope
    """Cancel it and the ground station goes silent: the agent's radio link is lost."""


@asynccontextmanager
async def flying(
    tmp_path: Path,
    vehicle: Vehicle = Vehicle.COPTER,
    *,
    link_loss: str = "continue",
    link_loss_timeout: float = 120.0,
) -> AsyncIterator[Flight]:
    """One agent beside a SITL `vehicle`, a ground station stack, and SITL's SERIAL1;
    yields once the agent is connected and telemetry reaches the ground."""
    files = provision_fleet(tmp_path / "fleet", (UAV,))
    [instance] = free_instances(1, first=4)
    sitl_config = SitlConfig(
        find_binary(vehicle=vehicle),
        vehicle=vehicle,
        instance=instance,
        system_id=UAV,
        speedup=SPEEDUP,
    )
    async with (
        running_sitl(sitl_config, workdir=tmp_path / "sitl") as sitl,
        open_udp_bind("127.0.0.1", 0) as radio,
    ):
        write_agent_config(
            files,
            UAV,
            radio=f"udp:127.0.0.1:{radio.local_address[1]}",
            autopilot=f"tcp:127.0.0.1:{sitl.port}",
            detector_port=14699,
            link_loss=link_loss,
            link_loss_timeout=link_loss_timeout,
        )
        config = replace(
            load_config(files.agent_config(UAV)), detector=Endpoint("udp", "127.0.0.1", 0)
        )
        stack = NodeStack(load_node_keys(files.keys(GS)), config.link_key, gateway=True)
        ground = Ground(StackRuntime(stack, radio))
        async with open_agent(config) as agent, trio.open_nursery() as nursery:
            cut_radio = trio.CancelScope()
            nursery.start_soon(_run_until_cut, ground.runtime, cut_radio)
            await nursery.start(agent.run)
            with trio.fail_after(300):  # SITL's EKF and GPS settle, routes form
                while not (agent.adapter.state.connected and ground.telemetry()):
                    await trio.sleep(1)
                await trio.sleep(30)
            # SITL opens SERIAL1 only once a client holds SERIAL0: the agent does now.
            serial1 = await trio.open_tcp_stream("127.0.0.1", sitl.port + SERIAL1)
            async with serial1:
                autopilot = Autopilot(serial1)
                nursery.start_soon(autopilot.read_loop)
                await autopilot.ask_for_streams()
                yield Flight(ground, agent, autopilot, cut_radio)
                nursery.cancel_scope.cancel()


async def _run_until_cut(runtime: StackRuntime, scope: trio.CancelScope) -> None:
    with scope:
        await runtime.run()
