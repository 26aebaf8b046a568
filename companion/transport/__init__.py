"""Byte transports under trio: UDP, TCP and serial, for the sans-IO link layer."""

from companion.transport.backoff import DEFAULT_BACKOFF, Backoff
from companion.transport.base import Transport, TransportClosed, TransportError
from companion.transport.frame_queue import FrameQueue
from companion.transport.reconnect import (
    DEFAULT_MAX_QUEUED_FRAMES,
    ByteConnection,
    ConnectionState,
    Opener,
    ReconnectingStream,
    StreamStats,
    open_reconnecting,
)
from companion.transport.serial import open_serial
from companion.transport.tcp import open_tcp_client
from companion.transport.udp import (
    MAX_DATAGRAM,
    Address,
    DatagramStats,
    UdpClientTransport,
    UdpServerTransport,
    open_udp_bind,
    open_udp_connect,
)

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_MAX_QUEUED_FRAMES",
    "MAX_DATAGRAM",
    "Address",
    "Backoff",
    "ByteConnection",
    "ConnectionState",
    "DatagramStats",
    "FrameQueue",
    "Opener",
    "ReconnectingStream",
    "StreamStats",
    "Transport",
    "TransportClosed",
    "TransportError",
    "UdpClientTransport",
    "UdpServerTransport",
    "open_reconnecting",
    "open_serial",
    "open_tcp_client",
    "open_udp_bind",
    "open_udp_connect",
]
