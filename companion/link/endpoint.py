"""The link core driven by trio over one transport: the thin runtime around `Link`.

It does what the core cannot: read the wall clock, save the signing clock's reservation
before the frame that needs it goes out, move bytes through the transport, and tell the
core when a byte stream went quiet (so a frame that stopped short is given up).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from ..reservation import save_reservation
from ..transport import Transport
from .link import Link, Received
from .timestamp_store import TimestampStore

IDLE_FLUSH = 0.25
"""Seconds of silence after which a partial frame at the head of a stream is dropped.
At 57600 baud a whole 280-byte frame takes under 50 ms; a quarter second of nothing
means the rest is not coming."""


class LinkEndpoint:
    """Sends and receives dialect messages on one link."""

    def __init__(
        self,
        link: Link,
        transport: Transport,
        store: TimestampStore | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.link = link
        self.transport = transport
        self._store = store
        self._wall_clock = wall_clock
        self._send_lock = trio.Lock()
        self._arrived: deque[Received] = deque()

    async def send(self, message: Any) -> None:
        """Frame, sign and transmit `message` (after saving the signing reservation)."""
        async with self._send_lock:
            frame = self.link.send(message, self._wall_clock())
            await save_reservation(self.link.clock, self._store)
            await self.transport.send(frame)

    async def send_raw(self, frame: bytes) -> None:
        """Transmit a frame as it is (see `Link.relay`)."""
        await self.transport.send(frame)

    async def receive(self) -> Received:
        """The next message that arrives and passes the link's checks."""
        while not self._arrived:
            self._arrived.extend(await self._receive_batch())
        return self._arrived.popleft()

    async def _receive_batch(self) -> list[Received]:
        if self.transport.is_datagram:
            data = await self.transport.receive()
            return self.link.receive_datagram(data, self._wall_clock())
        with trio.move_on_after(IDLE_FLUSH):
            data = await self.transport.receive()
            return self.link.receive_data(data, self._wall_clock())
        return self.link.receive_idle(self._wall_clock())
