"""The ground station goes dark for ten minutes: what can still live arrives, once."""

from __future__ import annotations

import trio
import trio.testing

from companion.reliability.events import Expired
from companion.reliability.priority import TTL, Priority
from sitl.radio import NodeDown, NodeUp
from tests.companion.security.fleet import Fleet
from tests.samples import detection

from .test_node_line import GS, swarm_line

DARK, BACK = 60.0, 660.0
RECOVERY = 60.0
"""Time the network needs after the ground station is back: hellos rebuild the routes,
and a sender's backed-off retransmission timer (at most 60 s) comes round."""


async def test_ground_station_dark_for_ten_minutes(
    fleet: Fleet, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        medium, nodes = swarm_line(nursery, fleet)
        medium.schedule(DARK, NodeDown(GS))
        medium.schedule(BACK, NodeUp(GS))
        await trio.sleep(DARK + 10)
        far = nodes[3]
        sent_at = {}
        for i in range(1, 21):
            far.send(GS, detection(i), priority=Priority.LOW)
            medium_seq = far.send(GS, detection(100 + i), priority=Priority.MEDIUM)
            sent_at[medium_seq] = trio.current_time()
            await trio.sleep(30)
        await trio.sleep_until(BACK + 240)
        nursery.cancel_scope.cancel()
    arrived = [a.messages[0].track_id for a in nodes[GS].stack.arrived if a.src == 3]
    low = sorted(t for t in arrived if t < 100)
    medium_got = sorted(t - 100 for t in arrived if t >= 100)
    assert low == list(range(1, 21)), "LOW lives an hour: every one arrives, once"
    expired = {e.seq for e in far.stack.events if isinstance(e, Expired)}
    dead = {seq for seq, t in sent_at.items() if t + 300 <= BACK}
    live = {seq for seq, t in sent_at.items() if t + 300 > BACK + RECOVERY}
    assert dead, "the test must cover messages that die in the dark"
    assert live, "and messages that outlive it"
    assert dead <= expired, "MEDIUM lives 5 min: what outlived it in the dark expired unsent"
    assert not live & expired, "what still had a minute to live once the ground was back"
    assert len(medium_got) >= len(live), "arrived"
    assert len(arrived) == len(set(arrived)), "once"
    after = [a.priority for a in nodes[GS].stack.arrived if a.src == 3 and a.at > BACK]
    assert after == sorted(after), "once back, the buffered MEDIUM arrive before the LOW"
    for a in nodes[GS].stack.arrived:
        assert a.age is not None, "a detection carries its age"
        assert a.age <= TTL[Priority(a.priority)], "never sealed after its time to live"
