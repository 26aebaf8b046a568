"""The "dark" scenario: the ground station off for ten minutes while the line of UAVs
keeps detecting, and keeps being commanded.

Every node sends the way its daemon does: detections go through each UAV's durable
outbox (kept a day, as `event-agent` keeps them), commands through the ground station's
(kept for their time to live). The outboxes are real SQLite files in a scratch folder,
so the MockClock waits a little real time (`DISK`) for their writes before it jumps.

What must hold (docs/protocol.md, "Time"): every detection made in the dark reaches the
ground station once, flagged late when it is older than its alert time to live; every
command whose time to live ended in the dark expires, and none acts late.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import trio
import trio.testing

from companion.message_age import LATE_AFTER
from companion.outbox import Outbox, open_outbox
from companion.outbox.sync import OutboxSync, valid_bundle
from companion.reliability.priority import Priority
from dialects import event

from .figures import Report, report
from .radio import NodeDown, NodeUp, RadioConfig
from .scenarios import LINE, line_motions
from .swarm import GS, Swarm, authority, build, detection
from .swarm import wall as sim_wall

DARK, BACK = 60.0, 660.0
STEPS = 19
"""Rounds of detections, 30 s apart from DARK + 10 s: the last comes 20 s before BACK."""
KEEP_FOR = 86_400.0
DISK = 0.0005
"""Real seconds the MockClock waits, idle, before it jumps: an outbox commit's time."""
RADIO = RadioConfig(range_m=1000.0)
DRAIN_LIMIT = 900.0


@dataclass(frozen=True)
class DarkFigures:
    made: int
    """Detections the UAVs stored while the ground station was off."""
    arrived: int
    """Of those, how many reached the ground station (once or more)."""
    late: int
    """Of those that arrived, how many were flagged late (older than the alert TTL)."""
    duplicates: int
    commands: int
    """Commands the ground station stored while it was off."""
    expired: int
    """Of those, how many ended EXPIRED in its outbox."""
    acted: int
    """Of those, how many reached a UAV anyway (must be 0)."""
    drained_after: float
    """Seconds from the ground station's return until every UAV outbox was empty."""

    def lines(self) -> list[str]:
        return [
            f"  detections made in the dark: {self.arrived}/{self.made} delivered, "
            f"{self.late} of them flagged late, {self.duplicates} twice; outboxes empty "
            f"{self.drained_after:.0f} s after the ground station came back",
            f"  commands issued in the dark: {self.expired}/{self.commands} expired at their "
            f"time to live, {self.acted} acted on",
        ]


def retask(number: int) -> event.MAVLink_message:
    """A retask that says which it is (track_id), to find it where it arrives."""
    return event.MAVLink_event_retask_message(0, -353630000, 1491650000, 500, 0, number, 0, 0)


async def dark(seed: int, minutes: float) -> Report:
    """The ground station off from DARK to BACK (`minutes` is not used: the outage is ten
    minutes whatever the traffic duration)."""
    clock = trio.lowlevel.current_clock()
    if isinstance(clock, trio.testing.MockClock):
        clock.autojump_threshold = DISK
    motions = line_motions()
    with tempfile.TemporaryDirectory(prefix="event-dark-") as scratch:
        async with AsyncExitStack() as stack:
            outboxes = {
                node: await stack.enter_async_context(
                    open_outbox(Path(scratch) / f"{node}.db", validate=valid_bundle, clock=sim_wall)
                )
                for node in motions
            }
            async with trio.open_nursery() as nursery:
                swarm = build(nursery, authority("dark", seed), seed, RADIO, motions)
                syncs = {node: _sync(nursery, swarm, node, outboxes[node]) for node in motions}
                expired: list[str] = []
                syncs[GS].on_expired = expired.extend
                swarm.medium.schedule(DARK, NodeDown(GS))
                swarm.medium.schedule(BACK, NodeUp(GS))
                await trio.sleep(DARK + 10)
                made, commands = await _in_the_dark(syncs)
                drained = await _drain(syncs)
                nursery.cancel_scope.cancel()
    figures = _figures(swarm, made, commands, expired, drained)
    return report("dark (ground station off for 10 minutes)", swarm, BACK - DARK, dark=figures)


def _sync(nursery: trio.Nursery, swarm: Swarm, node: int, outbox: Outbox) -> OutboxSync:
    runtime = swarm.nodes[node]
    sync = OutboxSync(outbox, runtime)
    runtime.on_event = sync.on_event
    nursery.start_soon(sync.run)
    return sync


async def _in_the_dark(syncs: dict[int, OutboxSync]) -> tuple[set[tuple[int, int]], set[int]]:
    """Each UAV detects every 30 s at each priority; the ground station, off, queues a
    retask to one UAV after another every 60 s. What was stored, by identity."""
    made: set[tuple[int, int]] = set()
    commands: set[int] = set()
    start = trio.current_time()
    for step in range(STEPS):
        await trio.sleep_until(start + 30 * step)
        for uav in LINE:
            for level in (Priority.HIGH, Priority.MEDIUM, Priority.LOW):
                track = 3 * step + int(level)
                found = detection(track, trio.current_time())
                await syncs[uav].submit(GS, found, priority=level, keep_for=KEEP_FOR)
                made.add((uav, track))
        if step % 2 == 0:
            number = step // 2 + 1
            await syncs[GS].submit(list(LINE)[number % len(LINE)], retask(number), key=f"c{number}")
            commands.add(number)
    return made, commands


async def _drain(syncs: dict[int, OutboxSync]) -> float:
    """Wait until every UAV outbox is empty (at most DRAIN_LIMIT); seconds after BACK."""
    await trio.sleep_until(BACK)
    with trio.move_on_after(DRAIN_LIMIT):
        while any([await syncs[uav].outbox.depth() for uav in LINE]):
            await trio.sleep(1)
    return trio.current_time() - BACK


def _figures(
    swarm: Swarm,
    made: set[tuple[int, int]],
    commands: set[int],
    expired: list[str],
    drained: float,
) -> DarkFigures:
    arrived: Counter[tuple[int, int]] = Counter()
    late = 0
    for a in swarm.nodes[GS].stack.arrived:
        head = a.messages[0]
        key = (a.src, head.track_id)
        if head.get_msgId() == event.MAVLINK_MSG_ID_EVENT_DETECTION and key in made:
            arrived[key] += 1
            late += arrived[key] == 1 and a.age is not None and a.age > LATE_AFTER
    acted = sum(
        1
        for uav in LINE
        for a in swarm.nodes[uav].stack.arrived
        if a.messages[0].get_msgId() == event.MAVLINK_MSG_ID_EVENT_RETASK
        and a.messages[0].track_id in commands
    )
    return DarkFigures(
        made=len(made),
        arrived=len(arrived),
        late=late,
        duplicates=sum(n - 1 for n in arrived.values()),
        commands=len(commands),
        expired=len({key for key in expired if int(key[1:]) in commands}),
        acted=acted,
        drained_after=drained,
    )
