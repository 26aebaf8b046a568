"""Named swarm scenarios on the simulated SiK channel, and the figures they produce.

    python -m sitl.scenarios              # every scenario
    python -m sitl.scenarios line swarm10 # some

Each scenario builds real node stacks (`companion.node.NodeStack`, link-signed, sealed
end to end, routed by the mesh) on `sitl.radio.RadioMedium`, runs seeded traffic on
trio's MockClock (virtual time: a 10-minute flight takes seconds), and reports:
delivery of ACK-required messages by priority, latency percentiles, control overhead as
a share of airtime, and what expired or was evicted. Same seed, same figures.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any

import trio
import trio._core._run as trio_run
import trio.testing

from dialects import event

from .figures import Report, report
from .motion import Motion
from .radio import NodeDown, RadioConfig, Stationary, Waypoints
from .swarm import GS, authority, build, settle, steady, traffic

LINE = {1: (650.0, 0.0), 2: (1300.0, 0.0), 3: (1300.0, 300.0), 4: (1950.0, 150.0)}
"""UAV positions of the line: 4 hears 2 and 3, which hear 1, which hears the ground."""


def line_motions() -> dict[int, Motion]:
    motions: dict[int, Motion] = {GS: Stationary((0.0, 0.0, 2.0))}
    for uav, (x, y) in LINE.items():
        motions[uav] = Stationary((x, y, 100.0))
    return motions


async def line(seed: int, minutes: float) -> Report:
    """Four UAVs in a line: the far one hears only the next, which hears only the next."""
    fleet = authority("line", seed)
    motions = line_motions()
    async with trio.open_nursery() as nursery:
        swarm = build(nursery, fleet, seed, RadioConfig(range_m=1000.0), motions)
        await trio.sleep(30)
        await traffic(swarm, list(LINE), minutes * 60, seed)
        await settle(swarm, 120)
        nursery.cancel_scope.cancel()
    return report("line (far UAV through two relays)", swarm, minutes * 60)


def patrol(rng: random.Random, speed: float, duration: float) -> Motion:
    """A square patrol around a random centre, flown at `speed`."""
    cx, cy = rng.uniform(-900, 900), rng.uniform(-900, 900)
    side = rng.uniform(300, 700)
    corners = [(cx, cy), (cx + side, cy), (cx + side, cy + side), (cx, cy + side)]
    points, t = [], 0.0
    while t <= duration:
        for x, y in corners:
            points.append((t, (x, y, 100.0)))
            t += side / speed
    return Waypoints(points)


async def swarm10(seed: int, minutes: float) -> Report:
    """Ten UAVs patrolling at 15 m/s, 10 % random loss on top of distance."""
    fleet = authority("swarm10", seed)
    rng = random.Random(f"{seed}/motion")
    duration = minutes * 60 + 300
    motions: dict[int, Motion] = {GS: Stationary((0.0, 0.0, 2.0))}
    for uav in range(1, 11):
        motions[uav] = patrol(rng, 15.0, duration)
    config = RadioConfig(range_m=1600.0, extra_loss=0.10)
    async with trio.open_nursery() as nursery:
        swarm = build(nursery, fleet, seed, config, motions)
        await trio.sleep(30)
        await traffic(swarm, list(range(1, 11)), minutes * 60, seed)
        await settle(swarm, 120)
        nursery.cancel_scope.cancel()
    return report("swarm10 (10 UAVs at 15 m/s, 10 % loss)", swarm, minutes * 60)


async def repair(seed: int, minutes: float) -> Report:
    """Two relays between the ground and a far UAV sending telemetry every second; the
    relay in use fails. Measured: how long until the far UAV routes through the other."""
    fleet = authority("repair", seed)
    motions: dict[int, Motion] = {
        GS: Stationary((0.0, 0.0, 2.0)),
        1: Stationary((600.0, 350.0, 100.0)),
        2: Stationary((600.0, -350.0, 100.0)),
        3: Stationary((1200.0, 0.0, 100.0)),
    }
    async with trio.open_nursery() as nursery:
        swarm = build(nursery, fleet, seed, RadioConfig(range_m=1000.0), motions)
        nursery.start_soon(steady, swarm, 3, minutes * 60 + 60)
        await trio.sleep(60)
        far = swarm.nodes[3].stack.router
        relay = far.next_hop(GS, trio.current_time())
        if relay is None:
            raise RuntimeError("repair scenario: the far UAV found no route in a minute")
        broke = trio.current_time()
        swarm.medium.schedule(broke, NodeDown(relay))
        while far.next_hop(GS, trio.current_time()) in (relay, None):
            await trio.sleep(0.05)
        repaired = trio.current_time() - broke
        await trio.sleep(minutes * 60)
        await settle(swarm, 120)
        nursery.cancel_scope.cancel()
    return report("repair (relay fails under 1 Hz telemetry)", swarm, minutes * 60, repaired)


def bulk_transfer(transfer: int) -> tuple[Any, tuple[Any, ...]]:
    """An image chip of 1.6 kB: a bulk header and eight data chunks, one bundle."""
    header = event.MAVLink_event_bulk_header_message(0, 1600, transfer, 9, 0)
    chunks = tuple(
        event.MAVLink_event_bulk_data_message(200 * i, transfer, 200, [(i * 7 + 1) % 255] * 200)
        for i in range(8)
    )
    return header, chunks


async def bulk(seed: int, minutes: float) -> Report:
    """The ground station streams bulk transfers to a UAV, fragment after fragment, and
    aborts now and then: an abort must never wait behind more than the frame on the air."""
    fleet = authority("bulk", seed)
    motions: dict[int, Motion] = {GS: Stationary((0.0, 0.0, 2.0)), 1: Stationary((500.0, 0, 100))}
    rng = random.Random(f"{seed}/bulk")
    async with trio.open_nursery() as nursery:
        swarm = build(nursery, fleet, seed, RadioConfig(range_m=1000.0), motions)
        await trio.sleep(30)
        end = trio.current_time() + minutes * 60
        transfer = 0
        while trio.current_time() < end:
            transfer += 1
            header, chunks = bulk_transfer(transfer)
            swarm.nodes[GS].send(1, header, attached=chunks)
            if transfer % 10 == 0:
                abort = event.MAVLink_event_mission_abort_message(0, 7, 0)
                await trio.sleep(rng.uniform(0, 0.3))
                swarm.send(GS, 1, abort)
            await trio.sleep(0.4)
        await settle(swarm, 120)
        nursery.cancel_scope.cancel()
    return report("bulk (abort amid a stream of LOW fragments)", swarm, minutes * 60)


async def dark(seed: int, minutes: float) -> Report:
    """The line with the ground station off for ten minutes (`sitl/dark.py`: it brings
    the daemons' durable outboxes, which no other scenario needs)."""
    from .dark import dark as dark_outage  # noqa: PLC0415 (dark.py builds on this module)

    return await dark_outage(seed, minutes)


SCENARIOS: dict[str, Callable[[int, float], Any]] = {
    "line": line,
    "swarm10": swarm10,
    "repair": repair,
    "bulk": bulk,
    "dark": dark,
}


def run(name: str, seed: int = 1, minutes: float = 10.0) -> Report:
    """Run one scenario on a fresh MockClock; returns its report."""
    scenario = SCENARIOS[name]
    # Trio deliberately varies the order of tasks woken at the same instant (to shake out
    # races), and without Hypothesis loaded that order also follows object addresses. A
    # simulation that must replay exactly asks for the ordering Hypothesis gets (tasks
    # sorted by creation, then shuffled) and seeds the shuffle.
    trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]
    trio_run._r.seed(f"{seed}/scheduler")
    result: Report = trio.run(
        scenario, seed, minutes, clock=trio.testing.MockClock(autojump_threshold=0)
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=10.0, help="traffic duration")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario: {', '.join(sorted(unknown))}")
    for name in args.names or SCENARIOS:
        for line_ in run(name, args.seed, args.minutes).lines():
            print(line_, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
