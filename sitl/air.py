"""The simulated radio medium over loopback UDP, for swarms of real processes.

Each node's radio is a UDP port on 127.0.0.1 (`base_port + node id`). A process that
sends a datagram there (its agent's radio transport, `udp:127.0.0.1:PORT`) is that node's
host: the datagram is one frame put on the simulated air (`sitl.radio.RadioMedium`:
range, loss, collisions, shared airtime), and every frame the node's radio receives is
sent back to the address the host last sent from.

Rules:
- The medium runs on trio's real clock here; the channel model is the same one the
  in-process tests use on the mock clock.
- A node's frames go on the air one at a time, as a serial radio's would; datagrams that
  arrive meanwhile wait in the socket's buffer (and are lost if it overflows, as a radio
  buffer's would be: counted by the kernel, not here).
- Until its host has sent something, a node's received frames have nowhere to go: they
  are counted as `undelivered`.
- Positions can be live (`Tracked`): a node's motion may follow a vehicle that moves as
  the simulation runs, read at the instant the channel asks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import trio

from .motion import Position
from .radio import RadioMedium, RadioPort

MAX_DATAGRAM = 2048


class Tracked:
    """A motion that reads a live position (e.g. a vehicle double's) when asked."""

    def __init__(self, where: Callable[[], Position]) -> None:
        self._where = where

    def position(self, t: float) -> Position:
        """The position now; `t` is the current time whenever the channel asks."""
        return self._where()


class AirBridge:
    """Moves frames between UDP hosts and their simulated radios."""

    def __init__(self, medium: RadioMedium, base_port: int, host: str = "127.0.0.1") -> None:
        self.medium = medium
        self.base_port = base_port
        self.host = host
        self.counters: Counter[str] = Counter()

    def port_of(self, node: int) -> int:
        """The UDP port on which `node`'s host reaches its radio."""
        return self.base_port + node

    async def serve(
        self,
        node: int,
        radio: RadioPort,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Bridge `node`'s UDP port and `radio` until cancelled."""
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with sock:
            await sock.bind((self.host, self.port_of(node)))
            peer: list[tuple[str, int]] = []
            task_status.started()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._downlink, node, radio, sock, peer)
                while True:
                    data, address = await sock.recvfrom(MAX_DATAGRAM)
                    peer[:] = [address]
                    if data:
                        self.counters["frames_in"] += 1
                        await radio.send(data)

    async def _downlink(
        self, node: int, radio: RadioPort, sock: trio.socket.SocketType, peer: list[tuple[str, int]]
    ) -> None:
        while True:
            data = await radio.receive()
            if not peer:
                self.counters["undelivered"] += 1
                continue
            try:
                await sock.sendto(data, peer[0])
            except OSError:
                self.counters["undelivered"] += 1
            else:
                self.counters["frames_out"] += 1
