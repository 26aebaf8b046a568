"""Two node stacks over real serial ports (pseudo-terminals), as over a pair of SiK radios:
the air between them hands over the byte stream in small chunks cut anywhere, so frames
arrive split across reads. Real fds, so real time: waits are conditions under a limit."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import trio

from companion.node import NodeStack
from companion.runtime import StackRuntime
from companion.security.certificate import Role
from companion.transport import Backoff, open_serial
from tests.companion.security.fleet import NOW_WALL, Fleet
from tests.samples import detection

GS, UAV = 255, 4
LINK_KEY = bytes(range(40, 72))
LIMIT = 30
CHUNK = 7
"""Bytes per piece the air hands over: a frame is always split."""


def wall_from_now() -> Callable[[], float]:
    """The fleet's test wall clock, starting at NOW_WALL (certificates are valid then)."""
    start = trio.current_time()
    return lambda: NOW_WALL + trio.current_time() - start


class Pty:
    """A pseudo-terminal whose slave the transport opens through a symlink, like a
    /dev/serial/by-id/ name; the test holds the master, the radio's far side."""

    def __init__(self, link: Path) -> None:
        self.master, slave = os.openpty()
        link.symlink_to(os.ttyname(slave))
        os.close(slave)
        os.set_blocking(self.master, False)
        self.link = link

    async def read(self) -> bytes:
        while True:
            await trio.lowlevel.wait_readable(self.master)
            try:
                return os.read(self.master, 4096)
            except BlockingIOError:
                continue
            except OSError as exc:  # EIO: the transport has not opened the slave yet
                if exc.errno != errno.EIO:
                    raise
                await trio.sleep(0.01)

    def close(self) -> None:
        trio.lowlevel.notify_closing(self.master)
        os.close(self.master)


async def air(source: Pty, sink: Pty) -> None:
    """Carry what `source`'s node transmits to `sink`'s node, CHUNK bytes at a time."""
    while True:
        data = await source.read()
        for at in range(0, len(data), CHUNK):
            os.write(sink.master, data[at : at + CHUNK])
            await trio.sleep(0.002)


async def test_frames_split_across_serial_reads_arrive_and_are_acknowledged(
    fleet: Fleet, tmp_path: Path
) -> None:
    ground_port, uav_port = Pty(tmp_path / "gs-radio"), Pty(tmp_path / "uav-radio")
    fast = Backoff(initial=0.01, maximum=0.2)
    wall = wall_from_now()
    try:
        async with (
            open_serial(ground_port.link, backoff=fast) as ground_serial,
            open_serial(uav_port.link, backoff=fast) as uav_serial,
            trio.open_nursery() as nursery,
        ):
            ground = StackRuntime(
                NodeStack(fleet.identity(GS, Role.GROUND_STATION), LINK_KEY, gateway=True),
                ground_serial,
                wall_clock=wall,
            )
            uav = StackRuntime(
                NodeStack(fleet.identity(UAV, Role.UAV), LINK_KEY), uav_serial, wall_clock=wall
            )
            for task in (ground.run, uav.run):
                nursery.start_soon(task)
            nursery.start_soon(air, ground_port, uav_port)
            nursery.start_soon(air, uav_port, ground_port)
            with trio.fail_after(LIMIT):
                while uav.stack.router.next_hop(GS, trio.current_time()) is None:
                    await trio.sleep(0.1)
                for track in (1, 2, 3):
                    uav.send(GS, detection(track))
                while len(ground.stack.arrived) < 3 or uav.stack.reliable.in_flight(GS):
                    await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
    finally:
        ground_port.close()
        uav_port.close()
    assert sorted(a.messages[0].track_id for a in ground.stack.arrived) == [1, 2, 3]
    assert ground.stack.link.drops.total() == 0
