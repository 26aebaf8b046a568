"""UDP endpoints: a server that answers whoever spoke last, and a fixed-peer client.

The server is MAVProxy's and ArduPilot's ``udpin``: it listens, and its replies
go to the address of the most recent datagram, so a ground station is answered
wherever it sends from. A new peer is logged at most once a minute (the others
counted in the next line): a sender that changes port with every datagram does
not write a line for each. The client is ``udpout``: a connected socket, which also
makes the kernel drop datagrams from anyone but the peer.

On Linux a connected UDP socket reports an ICMP port-unreachable for an earlier
datagram as ``ConnectionRefusedError`` on its next send or receive. On a
telemetry link that only means nobody is listening yet, so it is counted and
the transport carries on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import trio

from companion.log_limit import LogLimiter
from companion.transport.base import TransportClosed, is_log_worthy

logger = logging.getLogger(__name__)

MAX_DATAGRAM = 65535
"""Receive buffer size: the largest datagram an IP packet can carry."""

Address = tuple[Any, ...]
"""A socket address as the socket module gives it: (host, port[, ...])."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DatagramStats:
    """A snapshot of a UDP endpoint's counters."""

    datagrams_in: int
    datagrams_out: int
    refused: int
    """ICMP port-unreachable reports swallowed."""
    unaddressed: int
    """``send()`` calls dropped because no peer had spoken yet (server only)."""


class _UdpEndpoint:
    """What the server and the client share: socket, counters, closing."""

    is_datagram: bool = True

    def __init__(self, sock: trio.socket.SocketType, name: str) -> None:
        self._sock = sock
        self._name = name
        self._closed = False
        self._datagrams_in = 0
        self._datagrams_out = 0
        self._refused = 0
        self._unaddressed = 0

    @property
    def local_address(self) -> Address:
        """The address this endpoint's socket is bound to."""
        address: Address = self._sock.getsockname()
        return address

    @property
    def stats(self) -> DatagramStats:
        """The counters as they are now."""
        return DatagramStats(
            datagrams_in=self._datagrams_in,
            datagrams_out=self._datagrams_out,
            refused=self._refused,
            unaddressed=self._unaddressed,
        )

    async def aclose(self) -> None:
        """Close the socket; later calls raise ``TransportClosed``."""
        self._close()
        await trio.lowlevel.checkpoint()

    def _close(self) -> None:
        self._closed = True
        self._sock.close()

    def _check_open(self) -> None:
        if self._closed:
            raise TransportClosed(f"{self._name} is closed")

    @contextmanager
    def _io(self) -> Iterator[None]:
        """Run one socket call: closed-state errors as ``TransportClosed``,
        refusals counted and swallowed."""
        self._check_open()
        try:
            yield
        except trio.ClosedResourceError:  # closed by another task while waiting
            raise TransportClosed(f"{self._name} is closed") from None
        except ConnectionRefusedError:
            self._refused += 1
            if is_log_worthy(self._refused):
                logger.info("%s: peer port unreachable (%d times)", self._name, self._refused)


class UdpServerTransport(_UdpEndpoint):
    """Bound UDP socket that replies to the sender of the latest datagram."""

    def __init__(self, sock: trio.socket.SocketType, name: str) -> None:
        super().__init__(sock, name)
        self._peer: Address | None = None
        self._peer_log = LogLimiter(logger)
        """Anyone can send from a new port each time: one line a minute, not one each."""

    @property
    def peer(self) -> Address | None:
        """Where ``send()`` goes: the source of the latest datagram, if any."""
        return self._peer

    async def send(self, data: bytes) -> None:
        """Send one datagram to the peer; dropped and counted if none yet."""
        if self._peer is not None:
            await self.send_to(data, self._peer)
            return
        self._check_open()
        self._unaddressed += 1
        await trio.lowlevel.checkpoint()

    async def send_to(self, data: bytes, address: Address) -> None:
        """Send one datagram to ``address``, whoever the peer is."""
        with self._io():
            await self._sock.sendto(data, address)
            self._datagrams_out += 1

    async def receive(self) -> bytes:
        """The next datagram, from anyone; its source becomes the peer."""
        while True:
            with self._io():
                data, address = await self._sock.recvfrom(MAX_DATAGRAM)
                if address != self._peer:
                    self._peer = address
                    self._peer_log.log(
                        logging.INFO,
                        trio.current_time(),
                        "udp_peer",
                        "endpoint=%r peer=%s",
                        self._name,
                        address,
                    )
                self._datagrams_in += 1
                return data


class UdpClientTransport(_UdpEndpoint):
    """Connected UDP socket: one fixed peer."""

    async def send(self, data: bytes) -> None:
        """Send one datagram to the peer."""
        with self._io():
            await self._sock.send(data)
            self._datagrams_out += 1

    async def receive(self) -> bytes:
        """The next datagram from the peer."""
        while True:
            with self._io():
                data = await self._sock.recv(MAX_DATAGRAM)
                self._datagrams_in += 1
                return data


async def _resolve(host: str, port: int, *, passive: bool) -> tuple[int, Address]:
    flags = trio.socket.AI_PASSIVE if passive else 0
    infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_DGRAM, flags=flags)
    family, _type, _proto, _canonname, address = infos[0]
    return family, address


@asynccontextmanager
async def open_udp_bind(host: str, port: int) -> AsyncIterator[UdpServerTransport]:
    """Listen on ``host``:``port`` (port 0: any free port, see ``local_address``)."""
    family, address = await _resolve(host, port, passive=True)
    transport = UdpServerTransport(
        trio.socket.socket(family, trio.socket.SOCK_DGRAM), f"udp server {host}:{port}"
    )
    try:
        await transport._sock.bind(address)
        yield transport
    finally:
        transport._close()


@asynccontextmanager
async def open_udp_connect(
    host: str, port: int, local_port: int = 0
) -> AsyncIterator[UdpClientTransport]:
    """Talk to ``host``:``port`` only, from ``local_port`` (0: any free port)."""
    family, address = await _resolve(host, port, passive=False)
    wildcard = "::" if family == trio.socket.AF_INET6 else "0.0.0.0"
    transport = UdpClientTransport(
        trio.socket.socket(family, trio.socket.SOCK_DGRAM), f"udp client {host}:{port}"
    )
    try:
        await transport._sock.bind((wildcard, local_port))
        await transport._sock.connect(address)
        yield transport
    finally:
        transport._close()
