"""Serial transport on real pseudo-terminals that vanish and come back.

The pty master plays the radio; the transport opens the slave through a symlink,
as it would open /dev/serial/by-id/usb-...-if00. Real fds, so real time: every
wait is a condition polled under a generous trio.fail_after.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trio

from companion.transport import (
    Backoff,
    ConnectionState,
    ReconnectingStream,
    Transport,
    open_serial,
)

FAST = Backoff(initial=0.01, maximum=0.2)
LIMIT = 10


class FakeRadio:
    """The far end of a fresh pty pair: bytes written by the transport come out here."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        self.slave_name = os.ttyname(slave)
        os.close(slave)  # only the transport holds the slave open
        os.set_blocking(self.master, False)
        self.open = True

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    async def read_exactly(self, count: int) -> bytes:
        data = bytearray()
        with trio.fail_after(LIMIT):
            while len(data) < count:
                await trio.lowlevel.wait_readable(self.master)
                try:
                    data += os.read(self.master, count - len(data))
                except BlockingIOError:
                    continue
        return bytes(data)

    def vanish(self) -> None:
        trio.lowlevel.notify_closing(self.master)
        os.close(self.master)
        self.open = False


@pytest.fixture
async def radios() -> AsyncIterator[Callable[[], FakeRadio]]:
    made: list[FakeRadio] = []

    def make() -> FakeRadio:
        made.append(FakeRadio())
        return made[-1]

    yield make
    for radio in made:
        if radio.open:
            radio.vanish()


@pytest.fixture
def link(tmp_path: Path) -> Path:
    """Where the transport looks for the device, like a /dev/serial/by-id/ name."""
    return tmp_path / "radio"


async def wait_until(condition: Callable[[], bool]) -> None:
    with trio.fail_after(LIMIT):
        while not condition():
            await trio.sleep(0.005)


async def receive_exactly(port: ReconnectingStream, count: int) -> bytes:
    data = bytearray()
    with trio.fail_after(LIMIT):
        while len(data) < count:
            data += await port.receive()
    return bytes(data)


async def connected(port: ReconnectingStream) -> None:
    with trio.fail_after(LIMIT):
        await port.wait_connected()


async def test_bytes_flow_both_ways(link: Path, radios: Callable[[], FakeRadio]) -> None:
    radio = radios()
    link.symlink_to(radio.slave_name)
    # Bytes a tty would otherwise translate or act on: CR, LF, ^C, ^D, XON, XOFF.
    awkward = bytes(range(256))
    async with open_serial(link, baudrate=57600, backoff=FAST) as port:
        transport: Transport = port
        assert transport.is_datagram is False
        await connected(port)
        await port.send(awkward)
        assert await radio.read_exactly(len(awkward)) == awkward
        radio.write(awkward)
        assert await receive_exactly(port, len(awkward)) == awkward
        assert port.stats.bytes_in == port.stats.bytes_out == 256


async def test_device_that_is_absent_at_start_is_opened_when_it_appears(
    link: Path, radios: Callable[[], FakeRadio]
) -> None:
    async with open_serial(link, backoff=FAST) as port:
        await port.send(b"early")
        await wait_until(lambda: port.stats.open_failures >= 2)
        assert port.state is ConnectionState.DISCONNECTED
        radio = radios()
        link.symlink_to(radio.slave_name)
        await connected(port)
        assert await radio.read_exactly(5) == b"early"


async def test_replugged_device_gets_the_frames_sent_while_it_was_gone(
    link: Path, radios: Callable[[], FakeRadio]
) -> None:
    first = radios()
    link.symlink_to(first.slave_name)
    async with open_serial(link, backoff=FAST) as port:
        await connected(port)
        await port.send(b"before")
        assert await first.read_exactly(6) == b"before"

        first.vanish()
        link.unlink()
        with trio.fail_after(LIMIT):
            await port.wait_state(ConnectionState.DISCONNECTED)
        frames = [b"frame-%d;" % n for n in range(5)]
        for frame in frames:
            await port.send(frame)
        assert port.stats.frames_queued == len(frames)
        await wait_until(lambda: port.stats.open_failures >= 1)
        assert port.state is ConnectionState.DISCONNECTED

        second = radios()
        link.symlink_to(second.slave_name)
        await connected(port)
        expected = b"".join(frames)
        assert await second.read_exactly(len(expected)) == expected
        second.write(b"from the new radio")
        assert await receive_exactly(port, 18) == b"from the new radio"
        await wait_until(lambda: port.stats.frames_queued == 0)
        assert port.stats.reopens == 1
        assert port.stats.frames_dropped == 0


async def test_frame_cut_off_by_unplugging_is_written_whole_after_replug(
    link: Path, radios: Callable[[], FakeRadio]
) -> None:
    first = radios()
    link.symlink_to(first.slave_name)
    # Far larger than a pty's buffer (about 12 KiB on Linux): while nobody reads
    # the master, the transport can write only the first part of it.
    big = bytes(n % 251 for n in range(256 * 1024))
    async with open_serial(link, backoff=FAST) as port:
        await connected(port)
        await port.send(big)
        await port.send(b"after")
        await wait_until(lambda: port.stats.bytes_out > 0)
        assert port.stats.bytes_out < len(big)
        assert port.stats.frames_out == 0

        first.vanish()
        link.unlink()
        with trio.fail_after(LIMIT):
            await port.wait_state(ConnectionState.DISCONNECTED)
        second = radios()
        link.symlink_to(second.slave_name)
        await connected(port)
        assert await second.read_exactly(len(big) + 5) == big + b"after"
        await wait_until(lambda: port.stats.frames_out == 2)
