"""LinkEndpoint: the trio runtime around the link core."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from companion.link import Link, LinkConfig, ticks
from companion.link.endpoint import IDLE_FLUSH, LinkEndpoint
from companion.link.signing import frame_timestamp
from companion.link.timestamp_store import TimestampStore
from companion.transport import open_udp_bind, open_udp_connect
from dialects import event
from tests.samples import detection

from .helpers import KEY, NOW


class MemoryStream:
    """A test double of a stream transport: bytes put in by the test come out of receive()."""

    is_datagram = False

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self._in, self._out = trio.open_memory_channel[bytes](100)

    async def send(self, data: bytes) -> None:
        self.sent.append(data)

    async def receive(self) -> bytes:
        return await self._out.receive()

    async def aclose(self) -> None:
        await self._in.aclose()

    def inject(self, data: bytes) -> None:
        self._in.send_nowait(data)


def endpoint(transport: MemoryStream, store: TimestampStore | None = None) -> LinkEndpoint:
    return LinkEndpoint(Link(LinkConfig(system_id=255, key=KEY)), transport, store, lambda: NOW)


async def test_quiet_stream_gives_up_on_a_partial_frame(
    autojump_clock: trio.testing.MockClock,
) -> None:
    uav = Link(LinkConfig(system_id=3, key=KEY))
    transport = MemoryStream()
    gs = endpoint(transport)
    whole = uav.send(detection(1), NOW)
    heartbeat = uav.send(event.MAVLink_event_heartbeat_message(1, 3, 0), NOW)
    assert len(whole[:20] + heartbeat) < len(whole)  # the heartbeat hides in the cut frame
    transport.inject(whole[:20] + heartbeat[:10])
    transport.inject(heartbeat[10:])
    start = trio.current_time()
    received = await gs.receive()
    assert received.message.get_type() == "EVENT_HEARTBEAT"
    assert trio.current_time() - start == IDLE_FLUSH


async def test_reservation_is_saved_before_the_frame_leaves(tmp_path: Path) -> None:
    store = TimestampStore(tmp_path / "ts")
    transport = MemoryStream()
    gs = endpoint(transport, store)
    await gs.send(detection(1))
    saved = store.load(NOW)
    assert saved >= frame_timestamp(transport.sent[0]) >= ticks(NOW)
    await gs.send(detection(2))
    assert store.load(NOW) == saved  # still covered: no second write


async def test_udp_round_trip() -> None:
    async with open_udp_bind("127.0.0.1", 0) as server:
        port = server.local_address[1]
        async with open_udp_connect("127.0.0.1", port) as client:
            uav = LinkEndpoint(Link(LinkConfig(system_id=3, key=KEY)), client)
            gs = LinkEndpoint(Link(LinkConfig(system_id=255, key=KEY)), server)
            with trio.fail_after(10):
                await uav.send(detection(5))
                first = await gs.receive()
                await gs.send(detection(6))
                reply = await uav.receive()
    assert (first.message.seq, first.authenticated) == (5, True)
    assert (reply.message.seq, reply.frame.system_id) == (6, 255)
