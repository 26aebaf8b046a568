"""Both daemons as real processes on loopback, and the test as the air between them.

    event-agent <-UDP-> Air (the test: relays, captures, injects) <-UDP-> event-ground-station

Rules:
- Each daemon's radio is a UDP client connected to one of the air's sockets, so the
  kernel takes datagrams from that socket only: what the test injects arrives as if the
  radio had received it.
- Every datagram is relayed to the other daemon, then kept (`heard`, the latest few), so
  a replay of a captured frame is of a frame its receiver already had.
- `receive_queue` reads the kernel's view of a daemon's radio socket (/proc/net/udp):
  bytes waiting, for pacing, and datagrams the kernel dropped, which would go uncounted.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from sitl.demo.processes import Child, Children, python
from sitl.provisioning import FleetFiles, write_agent_config, write_station_config

UAV = 1
SIDES = ("agent", "station")
WAIT = 180.0
"""Generous limit for anything waited on (a loaded 2-core machine)."""
KEPT = 256

Address = tuple[Any, ...]


def other(side: str) -> str:
    return SIDES[1 - SIDES.index(side)]


@dataclass
class Air:
    """One UDP socket per daemon's radio; relays between them and keeps what each sent."""

    sockets: dict[str, trio.socket.SocketType]
    addresses: dict[str, Address] = field(default_factory=dict)
    heard: dict[str, deque[bytes]] = field(
        default_factory=lambda: {side: deque(maxlen=KEPT) for side in SIDES}
    )

    def port(self, side: str) -> int:
        port: int = self.sockets[side].getsockname()[1]
        return port

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for side in SIDES:
                nursery.start_soon(self._relay, side)
            task_status.started()

    async def inject(self, side: str, data: bytes) -> None:
        """`data` reaches `side`'s radio as if received over the air."""
        await self.sockets[side].sendto(data, self.addresses[side])

    async def _relay(self, side: str) -> None:
        while True:
            data, address = await self.sockets[side].recvfrom(65535)
            self.addresses[side] = address
            if other(side) in self.addresses:
                await self.inject(other(side), data)
            self.heard[side].append(data)


def receive_queue(port: int) -> tuple[int, int]:
    """(bytes waiting, datagrams dropped) of the UDP socket bound to 127.0.0.1:`port`."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}":
            return int(fields[4].split(":")[1], 16), int(fields[-1])
    raise LookupError(f"no UDP socket on 127.0.0.1:{port}")


@dataclass
class Daemons:
    files: FleetFiles
    air: Air
    children: dict[str, Child]
    detector_port: int
    stopping: Children

    async def stop(self) -> dict[str, int | None]:
        """SIGTERM both daemons; their exit statuses."""
        return await self.stopping.stop()

    def status(self, side: str) -> dict[str, Any]:
        """The daemon's status.json as last written ({} before the first)."""
        node = UAV if side == "agent" else self.files.ground_station
        path = self.files.state(node) / "status.json"
        status: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return status

    def rss(self, side: str) -> int:
        """The daemon's resident memory, in kB."""
        status = Path(f"/proc/{self.children[side].process.pid}/status").read_text()
        (line,) = (line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])

    def alive(self, side: str) -> bool:
        return self.children[side].process.poll() is None

    async def until(self, condition: Callable[[], bool], what: str, limit: float = WAIT) -> None:
        with trio.move_on_after(limit):
            while not condition():
                for side, child in self.children.items():
                    assert self.alive(side), f"{side} exited:\n{child.tail()}"
                await trio.sleep(0.1)
            return
        logs = {side: child.tail() for side, child in self.children.items()}
        pytest.fail(f"waited {limit:.0f} s for: {what}; logs: {logs}")

    async def detect(self, track_id: int) -> None:
        """The agent's detector reports a detection."""
        line = {"class_id": 3, "confidence": 0.9, "bbox": [10, 20, 30, 40], "track_id": track_id}
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as detector:
            await detector.sendto(
                (json.dumps(line) + "\n").encode(), ("127.0.0.1", self.detector_port)
            )


async def _free_port() -> int:
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM) as probe:
        await probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def open_daemons(files: FleetFiles, logs: Path) -> AsyncIterator[Daemons]:
    """Start both daemons on the air; yield once the station has heard the UAV. No
    autopilot (the agent keeps trying) and no cloud (the uplink keeps trying)."""
    sockets = {
        side: trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) for side in SIDES
    }
    for sock in sockets.values():
        await sock.bind(("127.0.0.1", 0))
    air = Air(sockets)
    detector_port = await _free_port()
    agent_config = write_agent_config(
        files,
        UAV,
        radio=f"udp:127.0.0.1:{air.port('agent')}",
        autopilot=f"tcp:127.0.0.1:{await _free_port()}",
        detector_port=detector_port,
        status_interval=1.0,
    )
    station_config = write_station_config(
        files,
        radio=f"udp:127.0.0.1:{air.port('station')}",
        uplink_url="http://127.0.0.1:9",
        status_interval=1.0,
    )
    children = Children(logs)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(air.run)
            started = {
                "agent": await children.start(
                    nursery, "agent", python("companion.agent.cli", "--config", str(agent_config))
                ),
                "station": await children.start(
                    nursery, "station", python("groundstation.cli", "--config", str(station_config))
                ),
            }
            daemons = Daemons(files, air, started, detector_port, children)
            await daemons.until(
                lambda: any(
                    row["node"] == UAV for row in daemons.status("station").get("fleet", [])
                ),
                "the ground station hears the UAV",
            )
            yield daemons
            nursery.cancel_scope.cancel()
    finally:
        for sock in sockets.values():
            sock.close()
        await children.stop()
        children.close()
