"""A partition of the swarm: what outlives it arrives once; what does not, expires."""

from __future__ import annotations

import trio
import trio.testing

from companion.reliability.events import Expired
from companion.reliability.priority import Priority
from sitl.radio import Heal, Partition
from tests.companion.security.fleet import Fleet
from tests.samples import detection

from .test_node_line import GS, swarm_line

SPLIT, HEAL = 60.0, 360.0


async def test_two_groups_split_for_five_minutes_and_rejoin(
    fleet: Fleet, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        medium, nodes = swarm_line(nursery, fleet)
        medium.schedule(SPLIT, Partition({GS, 1}, {2, 3}))
        medium.schedule(HEAL, Heal())
        await trio.sleep(SPLIT + 10)
        far = nodes[3]
        sent_low, sent_high = [], []
        for i in range(1, 11):
            sent_low.append(far.send(GS, detection(i), priority=Priority.LOW))
            sent_high.append(far.send(GS, detection(100 + i), priority=Priority.HIGH))
            await trio.sleep(20)
        await trio.sleep_until(HEAL + 180)
        nursery.cancel_scope.cancel()
    arrived = [(a.src, a.messages[0].track_id) for a in nodes[GS].stack.arrived]
    low = sorted(t for src, t in arrived if src == 3 and t < 100)
    high = [t for src, t in arrived if src == 3 and t >= 100]
    assert low == list(range(1, 11)), "every LOW message outlived the split: each arrives once"
    assert high == [], "HIGH messages live 30 s: all were sent into the split and expired"
    expired = [e.seq for e in far.stack.events if isinstance(e, Expired)]
    assert sorted(expired) == sorted(sent_high)
