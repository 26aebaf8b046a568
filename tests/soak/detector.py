"""The soak's onboard detector: a detection at a steady pace, each line sent again until the
agent answers that it is stored (companion/agent/intake.py), as examples/detector_client.py.

Rules:
- A detection is known as the command center will know it: (UAV, its time in ms,
  track_id). The time is the UAV's wall clock (its `NodeClock`, offset and jumps
  included), as a camera on that vehicle would stamp the frame; each detector's times
  and track ids are unique (a repeated millisecond is moved on by one).
- "Handed over" means the agent said stored: only then is the detection the agent's to
  keep. A line without that answer is resent, unchanged, every `RESEND` seconds, through
  restarts of the agent.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import trio

from sitl.faketime import NodeClock

RESEND = 1.0
Key = tuple[int, int, int]
"""(UAV, time in ms, track_id)."""


class Detector:
    """One UAV's detector; `run()` until cancelled, `producing` cleared to stop new ones."""

    def __init__(self, uav: int, port: int, clock: NodeClock, pace: float) -> None:
        self.uav = uav
        self.port = port
        self.clock = clock
        self.pace = pace
        self.producing = True
        self.lines: dict[Key, bytes] = {}
        """Every detection made, and the line that carries it."""
        self.pending: dict[Key, float] = {}
        """Made and not yet stored: when its line was last sent (trio time)."""
        self.stored: dict[Key, float] = {}
        """Handed over: when the agent said stored (trio time)."""
        self.counters: Counter[str] = Counter()
        self._times: set[int] = set()

    async def run(self) -> None:
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._listen, sock)
                nursery.start_soon(self._resend, sock)
                while True:
                    if self.producing:
                        await self._send(sock, self._make())
                    await trio.sleep(self.pace)

    def _make(self) -> Key:
        track_id = len(self.lines) % 65535 + 1
        taken = round(self.clock.now(), 3)
        while int(taken * 1000) in self._times:  # the clock jumped back onto earlier ones
            taken = round(taken + 0.001, 3)
        self._times.add(int(taken * 1000))
        key = (self.uav, int(taken * 1000), track_id)  # in ms as the agent rounds it
        line: dict[str, Any] = {
            "class_id": 1,
            "confidence": 0.8,
            "bbox": [100, 80, 32, 32],
            "track_id": track_id,
            "time": taken,
            "priority": "high",
        }
        self.lines[key] = (json.dumps(line) + "\n").encode()
        return key

    async def _send(self, sock: trio.socket.SocketType, key: Key) -> None:
        self.pending[key] = trio.current_time()
        self.counters["sent"] += 1
        await sock.sendto(self.lines[key], ("127.0.0.1", self.port))

    async def _resend(self, sock: trio.socket.SocketType) -> None:
        while True:
            await trio.sleep(RESEND / 4)
            due = trio.current_time() - RESEND
            for key, last in list(self.pending.items()):
                if last <= due and key in self.pending:
                    self.counters["resent"] += 1
                    await self._send(sock, key)

    async def _listen(self, sock: trio.socket.SocketType) -> None:
        while True:
            data = await sock.recv(65535)
            for answer in data.splitlines():
                said = json.loads(answer)
                if said.get("stored") is not True:
                    raise AssertionError(f"the agent of UAV {self.uav} refused a line: {said}")
                key = (self.uav, said["time"], said["track_id"])
                if self.pending.pop(key, None) is not None:
                    self.stored[key] = trio.current_time()
                else:
                    self.counters["stored_again"] += 1
