"""The reconnecting stream's rules, on fake connections and the autojump clock."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from companion.transport import (
    Backoff,
    ByteConnection,
    ConnectionState,
    ReconnectingStream,
    Transport,
    TransportClosed,
    open_reconnecting,
)


class FakeConnection:
    """A connection the test feeds and breaks at will; writes land in ``written``.

    ``write_budget`` bytes are accepted, then writes block like a full device
    buffer until the connection breaks.
    """

    def __init__(self, *, write_budget: float = math.inf) -> None:
        self.written = bytearray()
        self.closed = False
        self._budget = write_budget
        self._broken = trio.Event()
        self._feed, self._incoming = trio.open_memory_channel[bytes | None](math.inf)

    def feed(self, data: bytes) -> None:
        self._feed.send_nowait(data)

    def break_(self) -> None:
        self._broken.set()
        self._feed.send_nowait(None)

    async def receive_some(self) -> bytes:
        data = await self._incoming.receive()
        if data is None:
            raise trio.BrokenResourceError("fake link broken")
        return data

    async def write_some(self, data: memoryview) -> int:
        await trio.lowlevel.checkpoint()
        if self._budget == 0:
            await self._broken.wait()
        if self._broken.is_set():
            raise trio.BrokenResourceError("fake link broken")
        written = int(min(len(data), self._budget))
        self._budget -= written
        self.written += data[:written]
        return written

    def close(self) -> None:
        self.closed = True


class FakeOpener:
    """Hands out planned connections or failures, then fails; logs attempt times."""

    def __init__(self, plan: list[FakeConnection | OSError]) -> None:
        self.plan = plan
        self.attempts: list[float] = []
        self._attempted = trio.Event()

    async def __call__(self) -> ByteConnection:
        await trio.lowlevel.checkpoint()
        self.attempts.append(trio.current_time())
        self._attempted.set()
        self._attempted = trio.Event()
        item = self.plan.pop(0) if self.plan else OSError("no device")
        if isinstance(item, OSError):
            raise item
        return item

    async def wait_attempts(self, count: int) -> None:
        while len(self.attempts) < count:
            await self._attempted.wait()


def broken() -> FakeConnection:
    connection = FakeConnection()
    connection.break_()
    return connection


BACKOFF = Backoff(initial=0.5, maximum=10.0)


def test_backoff_doubles_up_to_its_maximum() -> None:
    assert [BACKOFF.delay(n) for n in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert BACKOFF.delay(10**9) == 10
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=0, maximum=1)
    with pytest.raises(ValueError, match="factor"):
        Backoff(factor=1)


async def test_failed_opens_are_retried_with_growing_delays(
    autojump_clock: trio.testing.MockClock,
) -> None:
    connection = FakeConnection()
    opener = FakeOpener([OSError("a"), OSError("b"), OSError("c"), OSError("d"), connection])
    async with open_reconnecting(opener, name="fake", backoff=BACKOFF) as stream:
        await stream.wait_connected()
        assert opener.attempts == [0, 0.5, 1.5, 3.5, 7.5]
        assert stream.stats.open_failures == 4
        assert stream.stats.reopens == 0


async def test_connections_that_break_at_once_do_not_spin(
    autojump_clock: trio.testing.MockClock,
) -> None:
    opener = FakeOpener([broken() for _ in range(7)])
    async with open_reconnecting(opener, name="fake", backoff=BACKOFF) as stream:
        await opener.wait_attempts(7)
        assert opener.attempts == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 25.5]
        assert stream.stats.reopens == 6


@pytest.mark.parametrize(
    ("uptime", "next_attempt"),
    # Three failed opens: the connection came at 3.5 s, as attempt number 3.
    [(10.0, 3.5 + 10.0 + BACKOFF.delay(0)), (1.0, 3.5 + 1.0 + BACKOFF.delay(3))],
    ids=["stable-link-resets-backoff", "short-link-keeps-backing-off"],
)
async def test_backoff_restarts_only_after_a_stable_connection(
    autojump_clock: trio.testing.MockClock, uptime: float, next_attempt: float
) -> None:
    connection = FakeConnection()
    opener = FakeOpener([OSError(), OSError(), OSError(), connection])
    async with open_reconnecting(opener, name="fake", backoff=BACKOFF) as stream:
        await stream.wait_connected()
        await trio.sleep(uptime)
        connection.break_()
        await stream.wait_state(ConnectionState.DISCONNECTED)
        await opener.wait_attempts(5)
        assert opener.attempts[-1] == next_attempt
        assert connection.closed


async def test_frames_queued_while_down_arrive_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    connection = FakeConnection()
    opener = FakeOpener([OSError(), connection])
    async with open_reconnecting(opener, name="fake", backoff=BACKOFF) as stream:
        for frame in (b"one", b"two", b"three"):
            await stream.send(frame)
        assert stream.state is ConnectionState.DISCONNECTED
        assert stream.stats.frames_queued == 3
        await stream.wait_connected()
        while stream.stats.frames_queued:
            await trio.sleep(0.001)
        assert connection.written == b"onetwothree"
        assert stream.stats.frames_out == 3
        assert stream.stats.bytes_out == 11


async def test_full_queue_drops_the_oldest_frames(
    autojump_clock: trio.testing.MockClock,
) -> None:
    connection = FakeConnection()
    opener = FakeOpener([OSError(), connection])
    async with open_reconnecting(
        opener, name="fake", backoff=BACKOFF, max_queued_frames=2
    ) as stream:
        for frame in (b"old", b"mid", b"new"):
            await stream.send(frame)
        await stream.wait_connected()
        while stream.stats.frames_queued:
            await trio.sleep(0.001)
        assert connection.written == b"midnew"
        assert stream.stats.frames_dropped == 1


async def test_frame_cut_by_a_lost_link_is_written_whole_on_the_next(
    autojump_clock: trio.testing.MockClock,
) -> None:
    first = FakeConnection(write_budget=4)
    second = FakeConnection()
    opener = FakeOpener([first, second])
    async with open_reconnecting(opener, name="fake", backoff=BACKOFF) as stream:
        await stream.send(b"0123456789")
        await stream.send(b"next")
        while stream.stats.bytes_out < 4:
            await trio.sleep(0.001)
        first.break_()
        await opener.wait_attempts(2)
        while stream.stats.frames_queued:
            await trio.sleep(0.001)
        assert first.written == b"0123"
        assert second.written == b"0123456789next"
        assert stream.stats.bytes_out == 4 + 14


async def test_received_chunks_come_out_of_receive(
    autojump_clock: trio.testing.MockClock,
) -> None:
    connection = FakeConnection()
    async with open_reconnecting(FakeOpener([connection]), name="fake") as stream:
        connection.feed(b"abc")
        connection.feed(b"de")
        assert await stream.receive() == b"abc"
        assert await stream.receive() == b"de"
        assert stream.stats.bytes_in == 5


async def test_closed_stream_raises_transport_closed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with open_reconnecting(FakeOpener([]), name="fake", backoff=BACKOFF) as stream:
        transport: Transport = stream
        async with trio.open_nursery() as nursery:

            async def blocked_receive() -> None:
                with pytest.raises(TransportClosed):
                    await transport.receive()

            async def blocked_wait() -> None:
                with pytest.raises(TransportClosed):
                    await stream.wait_connected()

            nursery.start_soon(blocked_receive)
            nursery.start_soon(blocked_wait)
            await trio.testing.wait_all_tasks_blocked()
            await transport.aclose()
        assert stream.state is ConnectionState.CLOSED
        with pytest.raises(trio.ClosedResourceError):
            await transport.send(b"x")
        with pytest.raises(TransportClosed):
            await transport.receive()


async def test_error_in_the_block_comes_out_unwrapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    connection = FakeConnection()
    streams: list[ReconnectingStream] = []

    async def fail_inside() -> None:
        async with open_reconnecting(FakeOpener([connection]), name="fake") as stream:
            streams.append(stream)
            await stream.wait_connected()
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await fail_inside()
    assert streams[0].state is ConnectionState.CLOSED
    assert connection.closed
