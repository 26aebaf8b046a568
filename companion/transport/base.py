"""What every byte transport offers the link layer, and how it fails.

The link layer is sans-IO: it turns bytes into frames and frames into bytes. A
transport only moves those bytes, over UDP, TCP or a serial device. Two shapes
exist, told apart by ``is_datagram``:

* datagram transports (UDP): one ``receive()`` returns exactly one datagram, and
  one ``send()`` sends exactly one;
* stream transports (TCP, serial): ``receive()`` returns the next chunk of the
  byte stream, cut wherever the operating system cut it, never empty.

Errors follow trio's split by blame. ``TransportClosed`` means *we* closed the
transport; it is also a ``trio.ClosedResourceError`` so generic trio code
recognises it. A link that breaks underneath a reconnecting transport is not an
error for the caller at all: the transport reconnects by itself.
"""

from __future__ import annotations

from typing import Protocol

import trio


def is_log_worthy(count: int) -> bool:
    """True when a repeating event reaches its 1st, 10th, 100th... occurrence.

    Counters of routine trouble (dropped frames, refused datagrams) log at these
    points only, so a link in trouble for hours writes a handful of lines.
    """
    if count < 1:
        return False
    while count % 10 == 0:
        count //= 10
    return count == 1


class TransportError(Exception):
    """Base class of every error raised by a transport."""


class TransportClosed(TransportError, trio.ClosedResourceError):
    """The transport was closed by its owner; it can no longer be used."""


class Transport(Protocol):
    """Moves the bytes of MAVLink frames between this process and one link."""

    is_datagram: bool
    """True: each ``receive()`` is one datagram. False: a byte stream."""

    async def send(self, data: bytes) -> None:
        """Send, or queue for sending, the bytes of one frame."""
        ...

    async def receive(self) -> bytes:
        """Return the next datagram, or the next chunk of stream bytes."""
        ...

    async def aclose(self) -> None:
        """Close the transport; later calls raise ``TransportClosed``."""
        ...
