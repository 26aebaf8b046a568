"""Whole node stacks on the simulated SiK channel: a 4-UAV line, far end through relays."""

from __future__ import annotations

import trio
import trio.testing

from companion.node import NodeStack
from companion.reliability.events import Acknowledged
from companion.runtime import StackRuntime
from companion.security.certificate import Role
from dialects import event
from sitl.radio import RadioConfig, RadioMedium, Stationary
from tests.companion.security.fleet import NOW_WALL, Fleet
from tests.samples import detection

GS = 255
LINK_KEY = bytes(range(7, 39))
SPACING = 650.0  # inside the 700 m of sure delivery, two hops apart is out of range


def wall() -> float:
    return NOW_WALL + trio.current_time()


def retask(n: int) -> object:
    """A retask told apart by its track id (the sender numbers it)."""
    return event.MAVLink_event_retask_message(0, -353630000, 1491650000, 500, 0, n, 0, 0)


def swarm_line(nursery: trio.Nursery, fleet: Fleet) -> tuple[RadioMedium, dict[int, StackRuntime]]:
    """The ground station and UAVs 1, 2, 3 in a line, each hearing only its neighbours."""
    medium = RadioMedium(seed=4, config=RadioConfig(range_m=1000.0))
    runtimes = {}
    for index, node in enumerate([GS, 1, 2, 3]):
        keys = fleet.identity(node, Role.GROUND_STATION if node == GS else Role.UAV)
        stack = NodeStack(keys, LINK_KEY, gateway=node == GS, seed=4)
        port = medium.attach(node, Stationary((index * SPACING, 0.0, 100.0)))
        runtimes[node] = StackRuntime(stack, port, wall_clock=wall)
        nursery.start_soon(runtimes[node].run)
    return medium, runtimes


async def test_far_uav_talks_to_the_ground_through_two_relays_and_back(
    fleet: Fleet, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        _, runtimes = swarm_line(nursery, fleet)
        await trio.sleep(30)
        far, ground = runtimes[3], runtimes[GS]
        for i in range(1, 11):
            far.send(GS, detection(i))
            ground.send(3, retask(i))
            await trio.sleep(2)
        with trio.fail_after(120):
            while (
                sum(isinstance(e, Acknowledged) for e in far.stack.events) < 10
                or sum(isinstance(e, Acknowledged) for e in ground.stack.events) < 10
            ):
                await trio.sleep(1)
        nursery.cancel_scope.cancel()
    got_ground = [(a.src, a.messages[0].track_id) for a in ground.stack.arrived]
    got_far = [(a.src, a.messages[0].track_id) for a in far.stack.arrived]
    assert sorted(got_ground) == [(3, i) for i in range(1, 11)]
    assert sorted(got_far) == [(GS, i) for i in range(1, 11)]
    assert runtimes[2].stack.forwarder.counters["forwarded"] > 0
    route = far.stack.router.routes.lookup(GS, trio.current_time())
    assert route is not None
    assert route.hops == 3
