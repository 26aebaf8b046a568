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
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio
import trio._core._run as trio_run
import trio.testing
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from companion.node import NodeStack
from companion.reliability.events import Acknowledged
from companion.reliability.priority import TTL, Priority, default_priority
from companion.runtime import StackRuntime
from companion.security.authority import FleetAuthority
from companion.security.certificate import DEFAULT_OPERATIONS, Operation, Role
from dialects import event

from .motion import Motion
from .radio import (
    NodeDown,
    RadioConfig,
    RadioMedium,
    Stationary,
    Waypoints,
    kind_by_message_id,
)

if TYPE_CHECKING:
    from .dark import DarkFigures

GS = 255
WALL_EPOCH = 1_780_000_000.0
LINK_KEY = bytes(range(11, 43))
CONTROL = {
    event.MAVLINK_MSG_ID_EVENT_HELLO: "control",
    event.MAVLINK_MSG_ID_EVENT_ROUTE_REQUEST: "control",
    event.MAVLINK_MSG_ID_EVENT_ROUTE_REPLY: "control",
    event.MAVLINK_MSG_ID_EVENT_ROUTE_ERROR: "control",
    event.MAVLINK_MSG_ID_EVENT_HANDSHAKE: "handshake",
}
PRIORITY_NAMES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
FRAME_TIME = (280 + RadioConfig().overhead_bytes) * 8 / RadioConfig().air_rate
"""Airtime of the largest MAVLink 2 frame, with SiK framing."""


def wall() -> float:
    return WALL_EPOCH + trio.current_time()


@dataclass
class Swarm:
    """The running nodes of a scenario and what was sent, for the report."""

    medium: RadioMedium
    nodes: dict[int, StackRuntime]
    sent: dict[tuple[int, int, int], tuple[float, int]] = field(default_factory=dict)
    """(src, dst, seq) -> (send time, priority) of every ACK-required message."""

    def send(self, src: int, dst: int, message: Any, priority: int | None = None) -> None:
        options = {} if priority is None else {"priority": priority}
        seq = self.nodes[src].send(dst, message, **options)
        if seq:
            level = default_priority(message.get_msgId()) if priority is None else priority
            self.sent[(src, dst, seq)] = (trio.current_time(), int(level))


@dataclass(frozen=True)
class Report:
    name: str
    duration: float
    delivered: dict[str, tuple[int, int]]
    """Priority name -> (delivered to the application once, sent)."""
    latencies: list[float]
    duplicates: int
    control_share: float
    handshake_share: float
    utilisation: float
    expired: int
    evicted: int
    repair: float | None = None
    """Seconds from a relay's failure to the far node routing around it, if measured."""
    critical_wait: float = 0.0
    """Longest any CRITICAL frame waited in a node's queue for the radio."""
    critical_behind_lower: int = 0
    """Most lower-priority frames a node sent while one of its CRITICAL frames waited."""
    after_outage: tuple[int, int, bool] | None = None
    """(delivered, still alive a minute after the outage ended, each sender's buffered
    messages arrived in priority order)."""
    dark: DarkFigures | None = None
    """What the dark scenario made, delivered, expired (`sitl/dark.py`)."""

    def lines(self) -> list[str]:
        out = [f"scenario {self.name}: {self.duration / 60:.0f} min of flight"]
        for priority, (got, sent) in self.delivered.items():
            out.append(f"  {priority:<8} delivered {got}/{sent} = {100 * got / sent:.2f} %")
        if self.latencies:
            by_time = sorted(self.latencies)
            p = [by_time[min(len(by_time) - 1, int(q * len(by_time)))] for q in (0.5, 0.9, 0.99)]
            out.append(f"  latency p50 {p[0]:.2f} s, p90 {p[1]:.2f} s, p99 {p[2]:.2f} s")
        out.append(
            f"  airtime: channel busy {100 * self.utilisation:.1f} %, mesh control "
            f"{100 * self.control_share:.2f} %, handshakes {100 * self.handshake_share:.2f} %"
        )
        out.append(
            f"  duplicates to the application {self.duplicates}, expired {self.expired}, "
            f"evicted {self.evicted}"
        )
        if self.after_outage is not None:
            got, alive, ordered = self.after_outage
            out.append(
                f"  after the outage: {got}/{alive} of the messages still alive delivered, "
                f"{'in' if ordered else 'NOT in'} priority order per sender"
            )
        if self.dark is not None:
            out.extend(self.dark.lines())
        if self.repair is not None:
            out.append(f"  route repair after the relay failed: {self.repair:.2f} s")
        out.append(
            f"  CRITICAL frames: {self.critical_behind_lower} lower-priority frames sent "
            f"while one waited; longest wait {1000 * self.critical_wait:.1f} ms = the frame "
            f"already on its way ({1000 * FRAME_TIME:.1f} ms at most) + channel access"
        )
        return out


def authority(name: str, seed: int) -> FleetAuthority:
    """A fleet authority with a key from the seed: a simulation's keys are not secret,
    and reproducible keys make reproducible frames (their sizes set airtime)."""
    key = random.Random(f"{seed}/authority").randbytes(32)
    return FleetAuthority(name, Ed25519PrivateKey.from_private_bytes(key))


def _key_source(rng: random.Random) -> Callable[[], X25519PrivateKey]:
    def next_key() -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(rng.randbytes(32))

    return next_key


def build(
    nursery: trio.Nursery,
    fleet: FleetAuthority,
    seed: int,
    config: RadioConfig,
    motions: dict[int, Motion],
) -> Swarm:
    medium = RadioMedium(seed=seed, config=config)
    nodes = {}
    for node, motion in motions.items():
        role = Role.GROUND_STATION if node == GS else Role.UAV
        rng = random.Random(f"{seed}/keys/{node}")
        node_keys = (
            Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)),
            X25519PrivateKey.from_private_bytes(rng.randbytes(32)),
        )
        operations = DEFAULT_OPERATIONS[role] | Operation.BULK  # the ground sends files too
        _, keys = fleet.issue(
            node, role, operations, valid_for=86_400, now=WALL_EPOCH, keys=node_keys
        )
        stack = NodeStack(
            keys, LINK_KEY, gateway=node == GS, seed=seed, random_key=_key_source(rng)
        )
        port = medium.attach(node, motion, classify=kind_by_message_id(CONTROL))
        nodes[node] = StackRuntime(stack, port, wall_clock=wall)
        nursery.start_soon(nodes[node].run)
    return Swarm(medium, nodes)


def outage_figures(
    swarm: Swarm, arrived: Counter[tuple[int, int, int]], ended: float
) -> tuple[int, int, bool]:
    """How the buffered traffic fared once an outage ended at `ended`."""
    alive = [k for k, (t, p) in swarm.sent.items() if t + TTL[Priority(p)] > ended + 60]
    ordered = True
    for runtime in swarm.nodes.values():
        by_sender: dict[int, list[int]] = {}
        for a in runtime.stack.arrived:
            if a.at > ended:
                by_sender.setdefault(a.src, []).append(a.priority)
        ordered = ordered and all(levels == sorted(levels) for levels in by_sender.values())
    return sum(1 for k in alive if arrived[k]), len(alive), ordered


def report(
    name: str,
    swarm: Swarm,
    duration: float,
    repair: float | None = None,
    outage_ended: float | None = None,
    dark: DarkFigures | None = None,
) -> Report:
    arrived: Counter[tuple[int, int, int]] = Counter()
    latencies = []
    for dst, runtime in swarm.nodes.items():
        for a in runtime.stack.arrived:
            head = a.messages[0]
            key = (a.src, dst, getattr(head, "seq", 0))
            if key in swarm.sent:
                arrived[key] += 1
                latencies.append(a.at - swarm.sent[key][0])
    delivered = {}
    for level, label in enumerate(PRIORITY_NAMES):
        keys = [k for k, (_, p) in swarm.sent.items() if p == level]
        if keys:
            delivered[label] = (sum(1 for k in keys if arrived[k]), len(keys))
    total = swarm.medium.total()
    elapsed = trio.current_time()
    stacks = [r.stack for r in swarm.nodes.values()]
    return Report(
        name=name,
        duration=duration,
        delivered=delivered,
        latencies=latencies,
        duplicates=sum(n - 1 for n in arrived.values() if n > 1),
        control_share=total.airtime_by_kind.get("control", 0.0) / elapsed,
        handshake_share=total.airtime_by_kind.get("handshake", 0.0) / elapsed,
        utilisation=swarm.medium.utilisation(),
        expired=sum(
            s.reliable.counters["expired"]
            + s.forwarder.counters["expired"]
            + s.scheduler.counters["expired"]
            for s in stacks
        ),
        repair=repair,
        dark=dark,
        after_outage=None if outage_ended is None else outage_figures(swarm, arrived, outage_ended),
        critical_wait=max(s.critical_wait for s in stacks),
        critical_behind_lower=max(s.critical_behind_lower for s in stacks),
        evicted=sum(
            s.forwarder.counters["store_evicted"] + s.scheduler.counters["evicted"] for s in stacks
        ),
    )


def detection(seq: int, t: float) -> Any:
    return event.MAVLink_event_detection_message(
        0,
        int(WALL_EPOCH * 1000 + t * 1000),
        -353632621 + seq,
        1491652374,
        584,
        seq % 65535,
        [120, 88, 64, 40],
        0,
        3,
        91,
    )


def retask(t: float) -> Any:
    return event.MAVLink_event_retask_message(0, -353630000, 1491650000, 500, 0, 0, 0, 0)


def telemetry(t: float) -> Any:
    return event.MAVLink_event_telemetry_message(
        int(WALL_EPOCH + t), -353632621, 1491652374, 500, 850, 9000, 1610, 3, 3, 87, 3, 14
    )


async def traffic(swarm: Swarm, uavs: list[int], duration: float, seed: int) -> None:
    """Each UAV: a detection every 10 s and telemetry every 5 s; the ground: a retask every
    15 s to a UAV in turn. Each UAV keeps its own phase within the 5 s period, as
    independent clocks would."""
    rng = random.Random(f"{seed}/traffic")
    ticks = sorted((rng.uniform(0, 5), uav) for uav in uavs)  # each UAV its own phase
    end = trio.current_time() + duration
    step = 0
    while trio.current_time() < end:
        now = trio.current_time()
        for offset, uav in ticks:
            await trio.sleep_until(now + offset)
            swarm.send(uav, GS, telemetry(now))
            if step % 2 == 0:
                swarm.send(uav, GS, detection(step, now))
        if step % 3 == 0:
            swarm.send(GS, uavs[(step // 3) % len(uavs)], retask(now))
        step += 1
        await trio.sleep_until(now + 5)


async def settle(swarm: Swarm, limit: float) -> None:
    """Wait until every ACK-required message is acknowledged or given up, at most `limit`."""
    with trio.move_on_after(limit):
        while True:
            done = sum(
                sum(1 for e in r.stack.events if isinstance(e, Acknowledged))
                + r.stack.reliable.counters["expired"]
                + r.stack.reliable.counters["gave_up"]
                for r in swarm.nodes.values()
            )
            if done >= len(swarm.sent):
                return
            await trio.sleep(1)


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


async def steady(swarm: Swarm, uav: int, duration: float) -> None:
    """Telemetry every second and a detection every two, from `uav` to the ground."""
    end = trio.current_time() + duration
    step = 0
    while trio.current_time() < end:
        now = trio.current_time()
        swarm.send(uav, GS, telemetry(now))
        if step % 2 == 0:
            swarm.send(uav, GS, detection(step, now))
        step += 1
        await trio.sleep_until(now + 1)


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
