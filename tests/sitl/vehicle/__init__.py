"""Tests of the vehicles, and the companion's end of the wire they share.

`Companion` speaks to a `VehicleDouble` as the agent would: real MAVLink 2 frames built by
pymavlink go in over a trio stream driven by `run_double`, and everything the double
sends back is parsed and kept with its arrival time (trio's clock: under `autojump_clock`
the times are exact virtual seconds). Waits are bounded by `trio.fail_after`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio
import trio.testing

from dialects import event
from sitl.vehicle.double import VehicleDouble
from sitl.vehicle.serve import run_double

HOME = (-35.363261, 149.165230, 584.0)
"""The double's default home (ArduPilot's CMAC field): degrees, degrees, metres AMSL."""
COMPANION = (1, 191)
"""The companion's system and component id: the vehicle's system, an onboard computer."""


@dataclass(frozen=True, slots=True)
class Heard:
    at: float
    message: Any


class Companion:
    """The companion end of a stream to the double."""

    def __init__(self, stream: trio.abc.Stream, *, source: tuple[int, int] = COMPANION) -> None:
        self.stream = stream
        self.mav = event.MAVLink(None, *source)
        self.parser = event.MAVLink(None)
        self.heard: list[Heard] = []
        self._mark = 0
        self._taken: set[int] = set()
        self._arrived = trio.Event()

    async def read_loop(self) -> None:
        while data := await self.stream.receive_some():
            now = trio.current_time()
            for message in self.parser.parse_buffer(data) or []:
                self.heard.append(Heard(now, message))
            self._arrived.set()
            self._arrived = trio.Event()

    async def send(self, message: Any) -> None:
        data = message.pack(self.mav)
        self.mav.seq = (self.mav.seq + 1) % 256
        await self.stream.send_all(data)

    def mark(self) -> None:
        """Later waits look only at what arrives from now on."""
        self._mark = len(self.heard)

    async def next(
        self,
        kinds: str | tuple[str, ...],
        where: Callable[[Any], bool] = lambda m: True,
        *,
        fresh: bool = False,
        timeout: float = 60.0,
    ) -> Heard:
        """The first message of `kinds` satisfying `where`, heard after the mark (`fresh`:
        after this call) and not returned by an earlier call; it counts as taken then."""
        key = (kinds,) if isinstance(kinds, str) else kinds
        start = len(self.heard) if fresh else self._mark
        with trio.fail_after(timeout):
            while True:
                for index in range(start, len(self.heard)):
                    heard = self.heard[index]
                    if index in self._taken or heard.message.get_type() not in key:
                        continue
                    if where(heard.message):
                        self._taken.add(index)
                        return heard
                await self._arrived.wait()

    def since(self, kind: str, start: float, end: float = float("inf")) -> list[Heard]:
        """Every `kind` message heard at times in [start, end)."""
        return [h for h in self.heard if h.message.get_type() == kind and start <= h.at < end]

    async def command(self, command: int, *params: float, target: int = 1) -> Any:
        """Send COMMAND_LONG; return its COMMAND_ACK."""
        padded = [*params, *[0.0] * (7 - len(params))]
        await self.send(self.mav.command_long_encode(target, 1, command, 0, *padded))
        heard = await self.next("COMMAND_ACK", lambda m: m.command == command)
        return heard.message

    async def set_mode(self, name: str) -> int:
        modes = {"STABILIZE": 0, "AUTO": 3, "GUIDED": 4, "LOITER": 5, "RTL": 6, "LAND": 9}
        ack = await self.command(
            event.MAV_CMD_DO_SET_MODE, event.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, modes[name]
        )
        return int(ack.result)

    async def wait_ready(self) -> float:
        """Wait for the EKF to report an absolute position; the time it did."""
        good = event.EKF_POS_HORIZ_ABS | event.EKF_POS_VERT_ABS
        heard = await self.next(
            "EKF_STATUS_REPORT",
            lambda m: m.flags & good == good and not m.flags & event.EKF_CONST_POS_MODE,
            timeout=120,
        )
        return heard.at

    async def arm(self) -> int:
        ack = await self.command(event.MAV_CMD_COMPONENT_ARM_DISARM, 1)
        return int(ack.result)

    async def takeoff(self, alt: float) -> int:
        ack = await self.command(event.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, alt)
        return int(ack.result)

    async def disarmed(self) -> Heard:
        """The next HEARTBEAT without the armed flag, from now on."""
        return await self.next(
            "HEARTBEAT",
            lambda m: not m.base_mode & event.MAV_MODE_FLAG_SAFETY_ARMED,
            fresh=True,
            timeout=300,
        )

    async def armed_in_guided(self) -> None:
        """Wait for readiness, switch to GUIDED and arm (as the agent does)."""
        await self.wait_ready()
        assert await self.set_mode("GUIDED") == event.MAV_RESULT_ACCEPTED
        assert await self.arm() == event.MAV_RESULT_ACCEPTED

    async def upload(self, items: list[Any]) -> Any:
        """Upload MISSION_ITEM_INT messages (item 0 first) as asked; return the MISSION_ACK.
        ArduPilot before 4.5 asks with MISSION_REQUEST, and takes the INT items as well."""
        await self.send(self.mav.mission_count_encode(1, 1, len(items), 0))
        while True:
            heard = await self.next(("MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"))
            if heard.message.get_type() == "MISSION_ACK":
                return heard.message
            await self.send(items[heard.message.seq])

    async def download(self) -> list[Any]:
        """MISSION_REQUEST_LIST, then every item by MISSION_REQUEST_INT, then MISSION_ACK."""
        await self.send(self.mav.mission_request_list_encode(1, 1, 0))
        count = (await self.next("MISSION_COUNT")).message.count
        items = []
        for seq in range(count):
            await self.send(self.mav.mission_request_int_encode(1, 1, seq, 0))
            items.append((await self.next("MISSION_ITEM_INT")).message)
        await self.send(self.mav.mission_ack_encode(1, 1, event.MAV_MISSION_ACCEPTED, 0))
        return items


def waypoint(
    mav: Any,
    seq: int,
    lat: float,
    lon: float,
    alt: float,
    *,
    command: int = event.MAV_CMD_NAV_WAYPOINT,
    frame: int = event.MAV_FRAME_GLOBAL_RELATIVE_ALT,
    param1: float = 0.0,
) -> Any:
    """A MISSION_ITEM_INT for the double (system 1, component 1)."""
    return mav.mission_item_int_encode(
        1, 1, seq, frame, command, 0, 1, param1, 0, 0, 0, round(lat * 1e7), round(lon * 1e7), alt
    )


@asynccontextmanager
async def connected(**kwargs: Any) -> AsyncIterator[tuple[VehicleDouble, Companion]]:
    """A double driven by `run_double` over an in-memory stream, and its companion."""
    double = VehicleDouble(**kwargs)
    vehicle_end, companion_end = trio.testing.memory_stream_pair()
    companion = Companion(companion_end)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_double, double, vehicle_end)
        nursery.start_soon(companion.read_loop)
        yield double, companion
        nursery.cancel_scope.cancel()


def square_mission(companion: Companion, count: int = 20) -> list[Any]:
    """Item 0 home, a takeoff, then `count` waypoints 100 m apart heading east-north."""
    mav = companion.mav
    lat, lon, alt = HOME
    items = [
        waypoint(mav, 0, lat, lon, alt, frame=event.MAV_FRAME_GLOBAL),
        waypoint(mav, 1, lat, lon, 25, command=event.MAV_CMD_NAV_TAKEOFF),
    ]
    for n in range(count):
        items.append(waypoint(mav, n + 2, lat + 0.0009 * (n % 4), lon + 0.0011 * (n // 4), 25))
    return items
