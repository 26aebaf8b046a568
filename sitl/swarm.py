"""A simulated swarm for the scenarios: node stacks on the radio medium, and their traffic.

`build` gives every node a real stack (`companion.node.NodeStack`, link-signed, sealed end
to end, routed by the mesh) on `sitl.radio.RadioMedium`, with keys drawn from the seed:
a simulation's keys are not secret, and reproducible keys make reproducible frames.
`traffic` and `steady` send seeded traffic on trio's clock; `settle` waits for the
acknowledgements. `Swarm.send` records every ACK-required message for the report.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from companion.node import NodeStack
from companion.reliability.events import Acknowledged
from companion.reliability.priority import default_priority
from companion.runtime import StackRuntime
from companion.security.authority import FleetAuthority
from companion.security.certificate import DEFAULT_OPERATIONS, Operation, Role
from dialects import event

from .motion import Motion
from .radio import RadioConfig, RadioMedium, kind_by_message_id

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
