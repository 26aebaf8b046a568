"""Wiring for the adapter tests: in-memory streams as transports, and a lossy wire.

`StreamTransport` makes one end of `trio.testing.memory_stream_pair()` a `Transport` (a
byte stream, as a serial port or SITL's TCP port is). `LossyTransport` wraps a transport
and drops whole MAVLink frames in both directions with a seeded RNG: what a radio or a
noisy serial line does to the flight-controller link. `MuteAutopilot` is a flight
controller that only sends HEARTBEAT; `adapter_with` runs an adapter against it (or
against nothing at all) for the duration of a block.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing

from companion.autopilot.adapter import AutopilotAdapter
from companion.link.frame import FrameReader
from companion.link.link import CRC_EXTRAS
from companion.transport import Transport
from tests.companion.autopilot.fc import US, frame_from_fc, heartbeat

READ_CHUNK = 4096


class StreamTransport:
    """A `Transport` over a trio stream (in tests: one end of a memory stream pair)."""

    is_datagram = False

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def receive(self) -> bytes:
        while True:
            data = await self.stream.receive_some(READ_CHUNK)
            if data:
                return bytes(data)
            await trio.sleep_forever()  # the other end closed: nothing more will come

    async def aclose(self) -> None:
        await self.stream.aclose()


class LossyTransport:
    """Drops `loss` of the frames going each way, chosen by a `random.Random(seed)`."""

    is_datagram = False

    def __init__(self, inner: Transport, *, loss: float, seed: int) -> None:
        self.inner = inner
        self.loss = loss
        self._rng = random.Random(seed)
        self._reader = FrameReader(CRC_EXTRAS)
        self.dropped_out = 0
        self.dropped_in = 0
        self.passed_out = 0
        self.passed_in = 0

    async def send(self, data: bytes) -> None:
        # The adapter sends one whole frame per call.
        if self._rng.random() < self.loss:
            self.dropped_out += 1
            return
        self.passed_out += 1
        await self.inner.send(data)

    async def receive(self) -> bytes:
        while True:
            kept = []
            for frame in self._reader.feed(await self.inner.receive()):
                if self._rng.random() < self.loss:
                    self.dropped_in += 1
                else:
                    self.passed_in += 1
                    kept.append(frame.data)
            if kept:
                return b"".join(kept)

    async def aclose(self) -> None:
        await self.inner.aclose()


class MuteAutopilot:
    """A test double of a flight controller that sends HEARTBEAT and answers nothing."""

    def __init__(self) -> None:
        self.beating = True
        self.received = 0

    async def run(self, stream: trio.abc.Stream) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._drain, stream)
            while True:
                if self.beating:
                    await stream.send_all(frame_from_fc(heartbeat()))
                await trio.sleep(1.0)

    async def _drain(self, stream: trio.abc.Stream) -> None:
        while data := await stream.receive_some(4096):
            self.received += len(data)


@asynccontextmanager
async def adapter_with(fc: MuteAutopilot | None, **options: Any) -> AsyncIterator[AutopilotAdapter]:
    ours, theirs = trio.testing.memory_stream_pair()
    adapter = AutopilotAdapter(StreamTransport(ours), system_id=US, **options)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(adapter.run)
        if fc is None:
            nursery.start_soon(_discard, theirs)
        else:
            nursery.start_soon(fc.run, theirs)
        yield adapter
        nursery.cancel_scope.cancel()


async def _discard(stream: trio.abc.Stream) -> None:
    while await stream.receive_some(4096):
        pass
