"""One real ArduPilot SITL instance as a vehicle of the simulated world: started, watched
and stopped by the world, flown by the agent.

    agent N --TCP--> SITL SERIAL0 (5760 + 10 * instance): the agent's autopilot link
    world   --TCP--> SITL SERIAL1 (SERIAL0's port + 2): where the vehicle truly is

Rules:
- `serve` starts SITL (`running_sitl`, in `workdir`), reports started once SITL listens
  for the agent, then watches it until cancelled, which stops SITL.
- SITL opens SERIAL1 only once a client holds SERIAL0, so the watcher connects, and
  reconnects after a drop, every `RETRY` seconds. On each connection it asks
  (`watch_requests`) for every stream at `RATE` Hz and for AUTOPILOT_VERSION
  (MAV_CMD_REQUEST_MESSAGE), as a GCS would, with its own system id (`WATCHER`): the
  agent's link is untouched.
- What SITL says is kept in a `SitlView`; until SITL reports a position, the vehicle is
  at its home. It is named (`autopilot`) by the version line SITL reports.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import trio

from dialects import event

from .ardupilot import RunningSitl, SitlConfig, running_sitl
from .sitl_view import SitlView

log = logging.getLogger("sitl.vehicle")
SERIAL1 = 2
"""SERIAL1's TCP port is SERIAL0's + 2."""
RETRY = 1.0
RATE = 4
WATCHER = (250, 191)
"""The watcher's MAVLink system and component: a GCS id the fleet does not use."""


class SitlVehicle:
    """A SITL vehicle: `position` (lat, lon, metres above home), `mode`, `armed`,
    `landed`, `ready`, `autopilot` as SITL last said them."""

    def __init__(self, config: SitlConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.view = SitlView()

    @property
    def port(self) -> int:
        """The agent's port: SITL's SERIAL0."""
        return self.config.port

    @property
    def position(self) -> tuple[float, float, float]:
        """Latitude, longitude and metres above the home's ground (from SITL's altitude
        above sea level: a rover's relative_alt is not relative)."""
        lat, lon, ground = self.config.home
        if self.view.position is None:
            return (lat, lon, 0.0)
        lat, lon, alt = self.view.position
        return (lat, lon, alt - ground)

    @property
    def mode(self) -> str:
        return self.view.mode

    @property
    def armed(self) -> bool:
        return self.view.armed

    @property
    def landed(self) -> bool:
        return self.view.landed

    @property
    def ready(self) -> bool:
        return self.view.ready

    @property
    def autopilot(self) -> str:
        """What flies it, for the report: SITL's version line once it has said it."""
        return self.view.version or f"ArduPilot SITL ({self.config.binary.name})"

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with running_sitl(self.config, workdir=self.workdir) as sitl:
            task_status.started()
            await self._watch(sitl)

    async def _watch(self, sitl: RunningSitl) -> None:
        while True:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", sitl.port + SERIAL1)
            except OSError:
                await trio.sleep(RETRY)
                continue
            async with stream:
                try:
                    await self._read(stream)
                except trio.BrokenResourceError:
                    log.info("SITL %d: SERIAL1 dropped", self.config.system_id)
            await trio.sleep(RETRY)

    async def _read(self, stream: trio.SocketStream) -> None:
        mav = event.MAVLink(None, *WATCHER)
        parser = event.MAVLink(None)
        parser.robust_parsing = True  # SITL's console text may come first
        for request in watch_requests(mav, self.config.system_id):
            await stream.send_all(request.pack(mav))
        while data := await stream.receive_some():
            for message in parser.parse_buffer(data) or []:
                self.view.observe(message)


def watch_requests(mav: Any, target: int) -> list[Any]:
    """What a watcher asks of autopilot `target`: every stream at `RATE` Hz (SITL sends
    none unasked on SERIAL1) and AUTOPILOT_VERSION once."""
    return [
        mav.request_data_stream_encode(target, 1, event.MAV_DATA_STREAM_ALL, RATE, 1),
        mav.command_long_encode(
            target,
            1,
            event.MAV_CMD_REQUEST_MESSAGE,
            0,
            event.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
            *[0] * 6,
        ),
    ]
