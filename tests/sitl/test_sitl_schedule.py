"""Partitions and node failures at scheduled times; closing a radio."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from companion.transport import TransportClosed
from sitl.accounting import Outcome
from sitl.channel import RadioConfig
from sitl.faults import Heal, NodeDown, NodeUp, Partition
from sitl.motion import Stationary
from sitl.radio import RadioMedium, RadioPort

from .swarm import Heard, frame, listen, tags


def swarm(medium: RadioMedium, count: int) -> list[RadioPort]:
    """`count` nodes 10 m apart on a line, numbered from 1: all in range of each other."""
    return [medium.attach(n, Stationary((10.0 * n, 0, 0))) for n in range(1, count + 1)]


async def beacon(port: RadioPort, seconds: int) -> None:
    """One frame at k + 0.5 s for k in 0..seconds-1, tagged k."""
    for k in range(seconds):
        await trio.sleep_until(k + 0.5)
        await port.send(frame(k))


async def run_with_listeners(
    ports: list[RadioPort], sender: RadioPort, seconds: int
) -> list[Heard]:
    heard: list[Heard] = [[] for _ in ports]
    async with trio.open_nursery() as nursery:
        for port, log in zip(ports, heard, strict=True):
            nursery.start_soon(listen, port, log)
        await beacon(sender, seconds)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    return heard


async def test_partition_then_heal(autojump_clock: trio.testing.MockClock) -> None:
    medium = RadioMedium(seed=1)
    ports = swarm(medium, 4)
    medium.schedule(at=10.0, event=Partition({1, 2}, {3, 4}))
    medium.schedule(at=20.0, event=Heal())
    heard = await run_with_listeners(ports[1:], ports[0], 30)
    assert tags(heard[0]) == list(range(30))
    assert tags(heard[1]) == tags(heard[2]) == [*range(10), *range(20, 30)]
    assert medium.stats(3).lost == {Outcome.PARTITION: 10}


async def test_nodes_named_in_no_group_are_one_side_together(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=1)
    ports = swarm(medium, 4)
    medium.schedule(at=0.0, event=Partition({1}))
    await ports[1].send(frame(0))
    assert medium.records[0].outcomes == {
        1: Outcome.PARTITION,
        3: Outcome.DELIVERED,
        4: Outcome.DELIVERED,
    }


def test_partition_groups_must_not_overlap() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Partition({1, 2}, {2, 3})


async def test_a_down_node_neither_receives_nor_sends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=1)
    ports = swarm(medium, 3)
    medium.schedule(at=5.0, event=NodeDown(3))
    medium.schedule(at=8.0, event=NodeUp(3))
    heard = await run_with_listeners(ports[1:], ports[0], 12)
    assert tags(heard[1]) == [0, 1, 2, 3, 4, 8, 9, 10, 11]
    assert medium.stats(3).lost == {Outcome.NODE_DOWN: 3}

    medium.schedule(at=20.0, event=NodeDown(3))
    await trio.sleep_until(20.0)
    airtime_before = medium.stats(3).airtime
    await ports[2].send(frame(99))
    # The frame still took its airtime (no backoff: a dead radio does not listen).
    assert trio.current_time() == 20.0 + medium.config.airtime(280)
    assert medium.stats(3).frames_discarded == 1
    assert medium.stats(3).airtime == airtime_before
    assert medium.records[-1].outcomes == {1: Outcome.NODE_DOWN, 2: Outcome.NODE_DOWN}


async def test_going_down_mid_frame_loses_it_even_if_back_up_before_it_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=1, config=RadioConfig(carrier_sense=False))
    ports = swarm(medium, 3)
    medium.schedule(at=0.010, event=NodeDown(2))
    medium.schedule(at=0.020, event=NodeUp(2))
    await ports[0].send(frame(1))
    assert medium.records[0].outcomes == {2: Outcome.NODE_DOWN, 3: Outcome.DELIVERED}


async def test_frames_buffered_in_a_radio_are_lost_when_it_goes_down(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=1)
    ports = swarm(medium, 2)
    for k in range(3):
        await ports[0].send(frame(k))
    medium.schedule(at=1.0, event=NodeDown(2))
    medium.schedule(at=2.0, event=NodeUp(2))
    await trio.sleep_until(3.0)
    await ports[0].send(frame(3))
    assert await ports[1].receive() == frame(3)
    assert medium.stats(2).lost == {Outcome.NODE_DOWN: 3}
    assert medium.stats(2).frames_received == 1


async def test_a_closed_radio_refuses_use_and_leaves_the_channel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    medium = RadioMedium(seed=1)
    ports = swarm(medium, 3)
    await ports[2].aclose()
    await ports[2].aclose()
    with pytest.raises(TransportClosed):
        await ports[2].send(frame(0))
    with pytest.raises(TransportClosed):
        await ports[2].receive()
    await ports[0].send(frame(1))
    assert medium.records[0].outcomes == {2: Outcome.DELIVERED}
