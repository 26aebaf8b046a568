"""Serial devices (SiK telemetry radios, flight controllers on USB) under trio.

The port is opened through pyserial in non-blocking mode (``timeout=0``,
``write_timeout=0``) and trio's ``wait_readable``/``wait_writable`` do the
waiting, so no thread is tied to a port. POSIX only: this needs the port's file
descriptor.

* The device path is opened afresh at every attempt and never resolved here: a
  ``/dev/serial/by-id/usb-...-if00`` symlink follows a re-plugged adapter to
  its new ``/dev/ttyUSBn``.
* A vanished device shows up on Linux as EIO from read or write, or as a port
  that polls readable and then yields no data (pyserial reports both as
  ``SerialException``). Either closes the port; ``ReconnectingStream`` reopens
  it with backoff and keeps the frames sent meanwhile.
* ``exclusive=True`` takes pyserial's ``flock`` so that a second process (a
  forgotten MAVProxy) cannot silently share the radio.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import serial
import trio

from companion.transport.backoff import DEFAULT_BACKOFF, Backoff
from companion.transport.reconnect import (
    DEFAULT_MAX_QUEUED_FRAMES,
    ByteConnection,
    ReconnectingStream,
    open_reconnecting,
)

_READ_CHUNK = 4096


class _SerialConnection:
    """One opened serial port; broken for good after its first error."""

    def __init__(self, port: serial.Serial) -> None:
        self._port = port
        self._fd = port.fileno()

    async def receive_some(self) -> bytes:
        while True:
            await trio.lowlevel.wait_readable(self._fd)
            try:
                # With timeout=0 pyserial returns at once with what is buffered.
                chunk = self._port.read(_READ_CHUNK)
            except OSError as exc:  # SerialException derives from OSError
                raise trio.BrokenResourceError(f"read failed: {exc}") from exc
            if chunk:
                return chunk

    async def write_some(self, data: memoryview) -> int:
        while True:
            await trio.lowlevel.wait_writable(self._fd)
            try:
                # Not self._port.write(): even with write_timeout=0, pyserial 3.5
                # retries EAGAIN in a busy loop (serialposix.Serial.write), so a
                # spurious "writable" would freeze the event loop. os.write on the
                # same descriptor returns what fitted, or raises BlockingIOError.
                return os.write(self._fd, data)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(f"write failed: {exc}") from exc

    def close(self) -> None:
        trio.lowlevel.notify_closing(self._fd)
        # Closing a device that is already gone may fail; it is released anyway.
        with contextlib.suppress(OSError):
            self._port.close()


@asynccontextmanager
async def open_serial(
    path: str | os.PathLike[str],
    baudrate: int = 57600,
    *,
    backoff: Backoff = DEFAULT_BACKOFF,
    max_queued_frames: int = DEFAULT_MAX_QUEUED_FRAMES,
) -> AsyncIterator[ReconnectingStream]:
    """Keep the serial device at ``path`` open for the duration of the block.

    The device need not exist yet; it is opened when it appears, and reopened
    after it vanishes. 57600 baud is the SiK radio default.
    """
    device = os.fspath(path)

    async def open_device() -> ByteConnection:
        await trio.lowlevel.checkpoint()
        port = serial.Serial(
            port=device, baudrate=baudrate, timeout=0, write_timeout=0, exclusive=True
        )
        return _SerialConnection(port)

    async with open_reconnecting(
        open_device,
        name=f"serial {device}",
        backoff=backoff,
        max_queued_frames=max_queued_frames,
    ) as stream:
        yield stream
