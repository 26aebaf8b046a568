"""TCP client that stays connected, e.g. to ArduPilot SITL's MAVLink port 5760.

SITL closes the socket whenever the simulated vehicle restarts and refuses
connections until it is back, so both a drop and a refusal lead to reconnecting
with backoff (see reconnect.py); frames sent in between wait in the queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from companion.transport.backoff import DEFAULT_BACKOFF, Backoff
from companion.transport.reconnect import (
    DEFAULT_MAX_QUEUED_FRAMES,
    ByteConnection,
    ReconnectingStream,
    open_reconnecting,
)

_READ_CHUNK = 65536


class _TcpConnection:
    """One TCP connection; broken for good once reset or closed by the peer."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream

    async def receive_some(self) -> bytes:
        chunk = await self._stream.receive_some(_READ_CHUNK)
        if not chunk:
            raise trio.BrokenResourceError("peer closed the connection")
        return chunk

    async def write_some(self, data: memoryview) -> int:
        await self._stream.send_all(data)
        return len(data)

    def close(self) -> None:
        self._stream.socket.close()


@asynccontextmanager
async def open_tcp_client(
    host: str,
    port: int,
    *,
    backoff: Backoff = DEFAULT_BACKOFF,
    max_queued_frames: int = DEFAULT_MAX_QUEUED_FRAMES,
    connect_timeout: float = 5.0,
) -> AsyncIterator[ReconnectingStream]:
    """Keep a TCP connection to ``host``:``port`` for the duration of the block.

    An attempt that gets no answer within ``connect_timeout`` seconds counts as
    failed; without the limit a silent host would hold it for the kernel's SYN
    retries, about two minutes on Linux.
    """

    async def connect() -> ByteConnection:
        with trio.move_on_after(connect_timeout):
            return _TcpConnection(await trio.open_tcp_stream(host, port))
        raise TimeoutError(f"no answer within {connect_timeout} s")

    async with open_reconnecting(
        connect,
        name=f"tcp {host}:{port}",
        backoff=backoff,
        max_queued_frames=max_queued_frames,
    ) as stream:
        yield stream
