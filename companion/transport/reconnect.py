"""A byte stream that outlives its connections: reopen with backoff, queue while down.

States (``ConnectionState``)::

    DISCONNECTED --opened--> CONNECTED --lost--> DISCONNECTED
    any state --aclose()--> CLOSED (final)

Rules:

* One supervisor task owns the connection. It makes one with an *opener*, which
  raises ``OSError`` when the device or peer is not there, then runs one reader
  and one writer on it. When either finds the connection broken
  (``trio.BrokenResourceError``) both stop, the connection is closed, and the
  supervisor waits and opens a new one.
* The first open is immediate; every later one waits ``Backoff.delay(attempt)``,
  so a device that opens and breaks at once cannot spin. The attempt count grows
  with each failed open and each short-lived connection, and starts again from 0
  after a connection that stayed up at least ``Backoff.maximum`` seconds.
* ``send()`` never waits for the link: frames go to an ``FrameQueue`` and the writer
  drains it while connected; see queue.py for ordering and dropping.
* Received chunks reach ``receive()`` through a bounded channel; a slow consumer
  makes the reader stop reading, and the OS buffers absorb the difference.
* Frames still queued when the stream is closed are discarded.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import trio

from companion.transport.backoff import DEFAULT_BACKOFF, Backoff
from companion.transport.base import TransportClosed, is_log_worthy
from companion.transport.frame_queue import FrameQueue

logger = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED_FRAMES = 256
"""About 70 KiB of MAVLink v2 frames (at most 280 bytes each)."""

_INBOUND_CHUNKS = 64


class ByteConnection(Protocol):
    """One live connection; once it breaks it is closed and a new one is made."""

    async def receive_some(self) -> bytes:
        """Next bytes, never empty; ``trio.BrokenResourceError`` once lost."""
        ...

    async def write_some(self, data: memoryview) -> int:
        """Write a non-empty prefix of ``data``, return its length; may raise
        ``trio.BrokenResourceError``."""
        ...

    def close(self) -> None:
        """Release the connection; called once, with no task using it."""
        ...


Opener = Callable[[], Awaitable[ByteConnection]]
"""Makes a new connection, or raises ``OSError`` if it cannot now."""


class ConnectionState(enum.Enum):
    """Where a reconnecting stream stands."""

    DISCONNECTED = "disconnected"
    """No live connection; opening one, or waiting to try again."""
    CONNECTED = "connected"
    CLOSED = "closed"
    """Closed by its owner; final."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStats:
    """A snapshot of a reconnecting stream's counters."""

    reopens: int
    """Successful opens after the first one."""
    open_failures: int
    """Attempts to open that raised."""
    bytes_in: int
    bytes_out: int
    frames_out: int
    """Frames written completely."""
    frames_dropped: int
    """Frames discarded because the queue was full."""
    frames_queued: int
    """Frames waiting now, including a partly written one."""


class ReconnectingStream:
    """A stream transport that keeps a connection open; see the module rules.

    Make one with ``open_reconnecting`` (or ``open_serial``, ``open_tcp_client``),
    which runs its supervisor task for as long as the ``async with`` block lasts.
    """

    is_datagram: bool = False

    def __init__(
        self, opener: Opener, *, name: str, backoff: Backoff, max_queued_frames: int
    ) -> None:
        self.name = name
        self._opener = opener
        self._backoff = backoff
        self._queue = FrameQueue(max_queued_frames)
        self._queue_changed = trio.Event()
        self._state = ConnectionState.DISCONNECTED
        self._state_changed = trio.Event()
        self._inbound_writer, self._inbound = trio.open_memory_channel[bytes](_INBOUND_CHUNKS)
        self._supervisor_scope = trio.CancelScope()
        self._opens = 0
        self._open_failures = 0
        self._failures_in_a_row = 0
        self._bytes_in = 0
        self._bytes_out = 0

    @property
    def state(self) -> ConnectionState:
        """The current state."""
        return self._state

    @property
    def stats(self) -> StreamStats:
        """The counters as they are now."""
        return StreamStats(
            reopens=max(self._opens - 1, 0),
            open_failures=self._open_failures,
            bytes_in=self._bytes_in,
            bytes_out=self._bytes_out,
            frames_out=self._queue.frames_written,
            frames_dropped=self._queue.frames_dropped,
            frames_queued=len(self._queue),
        )

    async def wait_state(self, state: ConnectionState) -> None:
        """Return once the stream is in ``state``.

        Raises ``TransportClosed`` if the stream is closed while waiting for
        another state.
        """
        await trio.lowlevel.checkpoint()
        while self._state is not state:
            if self._state is ConnectionState.CLOSED:
                raise TransportClosed(f"{self.name} is closed")
            await self._state_changed.wait()

    async def wait_connected(self) -> None:
        """Return once connected; ``TransportClosed`` if closed first."""
        await self.wait_state(ConnectionState.CONNECTED)

    async def send(self, data: bytes) -> None:
        """Queue one frame; it is written whole and in order once connected."""
        await trio.lowlevel.checkpoint()
        if self._state is ConnectionState.CLOSED:
            raise TransportClosed(f"{self.name} is closed")
        dropped = self._queue.frames_dropped
        self._queue.offer(data)
        if self._queue.frames_dropped != dropped and is_log_worthy(dropped + 1):
            logger.warning("%s: queue full, %d frames dropped so far", self.name, dropped + 1)
        self._queue_changed.set()
        self._queue_changed = trio.Event()

    async def receive(self) -> bytes:
        """The next chunk of bytes from the device or peer, never empty."""
        try:
            return await self._inbound.receive()
        except trio.ClosedResourceError:
            raise TransportClosed(f"{self.name} is closed") from None

    async def aclose(self) -> None:
        """Close the stream and stop its supervisor; queued frames are discarded."""
        self._shut()
        await trio.lowlevel.checkpoint()

    def _shut(self) -> None:
        if self._state is ConnectionState.CLOSED:
            return
        self._set_state(ConnectionState.CLOSED)
        self._supervisor_scope.cancel()
        self._inbound.close()
        logger.info("%s: closed", self.name)

    def _set_state(self, state: ConnectionState) -> None:
        self._state = state
        self._state_changed.set()
        self._state_changed = trio.Event()

    async def _supervise(self) -> None:
        attempt = 0
        with self._supervisor_scope:
            while True:
                try:
                    connection = await self._opener()
                except OSError as exc:
                    self._note_open_failure(exc)
                else:
                    up_since = trio.current_time()
                    await self._serve(connection)
                    if trio.current_time() - up_since >= self._backoff.maximum:
                        attempt = 0
                await trio.sleep(self._backoff.delay(attempt))
                attempt += 1

    def _note_open_failure(self, exc: OSError) -> None:
        self._open_failures += 1
        self._failures_in_a_row += 1
        # The first failure of an outage is news; the retries that follow are not.
        level = logging.WARNING if self._failures_in_a_row == 1 else logging.DEBUG
        logger.log(level, "%s: cannot open (%s); retrying with backoff", self.name, exc)

    async def _serve(self, connection: ByteConnection) -> None:
        self._opens += 1
        logger.info(
            "%s: connected (open #%d, %d frames queued)",
            self.name,
            self._opens,
            len(self._queue),
        )
        self._failures_in_a_row = 0
        self._set_state(ConnectionState.CONNECTED)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pump_in, connection)
                nursery.start_soon(self._pump_out, connection)
        except* trio.BrokenResourceError as lost:
            logger.warning(
                "%s: connection lost (%s); %d frames queued",
                self.name,
                lost.exceptions[0],
                len(self._queue),
            )
        finally:
            connection.close()
            self._queue.rewind()
            if self._state is ConnectionState.CONNECTED:
                self._set_state(ConnectionState.DISCONNECTED)

    async def _pump_in(self, connection: ByteConnection) -> None:
        while True:
            chunk = await connection.receive_some()
            self._bytes_in += len(chunk)
            await self._inbound_writer.send(chunk)

    async def _pump_out(self, connection: ByteConnection) -> None:
        while True:
            chunk = self._queue.next_chunk()
            if chunk is None:
                await self._queue_changed.wait()
                continue
            written = await connection.write_some(chunk)
            self._bytes_out += written
            self._queue.advance(written)


@asynccontextmanager
async def open_reconnecting(
    opener: Opener,
    *,
    name: str,
    backoff: Backoff = DEFAULT_BACKOFF,
    max_queued_frames: int = DEFAULT_MAX_QUEUED_FRAMES,
) -> AsyncIterator[ReconnectingStream]:
    """Run a ``ReconnectingStream`` over ``opener`` for the duration of the block.

    Leaving the block closes the stream and waits for its tasks to end. An
    exception raised in the block comes out as itself, not in an ExceptionGroup.
    """
    stream = ReconnectingStream(
        opener, name=name, backoff=backoff, max_queued_frames=max_queued_frames
    )
    body_error: BaseException | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream._supervise)
        try:
            yield stream
        except BaseException as exc:
            # Kept out of the nursery, which would wrap it in an ExceptionGroup
            # although the supervisor task had nothing to do with it.
            body_error = exc
        finally:
            stream._shut()
    if body_error is not None:
        raise body_error
