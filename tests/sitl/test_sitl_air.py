"""The radio medium over loopback UDP: frames reach the hosts in range, and only them."""

from __future__ import annotations

import trio

from sitl.air import AirBridge, Tracked
from sitl.motion import Motion
from sitl.radio import RadioConfig, RadioMedium, Stationary

BASE = 27000


async def test_frames_cross_the_air_between_udp_hosts_in_range() -> None:
    medium = RadioMedium(seed=1, config=RadioConfig(range_m=1000.0))
    bridge = AirBridge(medium, BASE)
    where = [(0.0, 0.0, 0.0)]
    positions: dict[int, Motion] = {
        1: Stationary((0.0, 0.0, 0.0)),
        2: Tracked(lambda: where[0]),
        3: Stationary((5000.0, 0.0, 0.0)),
    }
    hosts = {}
    async with trio.open_nursery() as nursery:
        for node, motion in positions.items():
            await nursery.start(bridge.serve, node, medium.attach(node, motion))
            sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
            await sock.bind(("127.0.0.1", 0))
            await sock.connect(("127.0.0.1", bridge.port_of(node)))
            await sock.send(b"")  # introduce the host to its radio
            hosts[node] = sock
        with trio.fail_after(30):
            await hosts[1].send(b"hello from 1")
            assert await hosts[2].recv(2048) == b"hello from 1"
        where[0] = (4800.0, 0.0, 0.0)  # node 2 flies next to node 3, out of node 1's range
        with trio.fail_after(30):
            await hosts[1].send(b"lost")
            await hosts[2].send(b"to 3")
            assert await hosts[3].recv(2048) == b"to 3"
        heard_by_3 = []
        with trio.move_on_after(0.2):
            heard_by_3.append(await hosts[3].recv(2048))
        assert heard_by_3 == [], "node 1 is 5 km from node 3"
        assert bridge.counters["frames_in"] == 3
        nursery.cancel_scope.cancel()
    for sock in hosts.values():
        sock.close()
