"""The ground station's side of the uplink benchmark: a fleet's traffic as the gateway's
stack hands it over, and the gateway that takes it in and publishes it to an uplink.

- The fleet: 4 UAVs at the agent's defaults, telemetry every 2 s and status every 10 s
  per UAV (a record each: the uplink, not the agent, batches them), plus a detection per
  second per UAV (a busy search): 6.4 records/s, 3,840 in 10 minutes. Provisioned fresh
  for each phase by sitl/provisioning.py (authority, key bundles, link key, the command
  center's tokens).
- The gateway: a `Gateway` wired as groundstation/station.py wires it (a gateway
  `NodeStack` under `StackRuntime` on a real UDP socket, the fleet's ground station keys,
  its radio outbox in SQLite), fed at `Gateway.on_arrival` with `Arrived` objects, where
  the stack hands over an authenticated inner message. Each is a dialect message
  (EVENT_DETECTION, EVENT_TELEMETRY, EVENT_STATUS) put through the sealed-bundle encoding
  and back (`encode_bundle`/`decode_bundle`), as the stack opens it. The radio loops do
  not run: nothing comes over the air (bench/link.py and bench/security.py measure that
  part).
- The hand-over: as fast as the gateway takes them, never more than `AHEAD` beyond what
  the uplink has committed, so the gateway's bounded queue never overflows (it would
  drop).

Rules: a record the gateway drops or refuses, traffic that repeats a msg_id, or a wait
longer than `LIMIT` is an `UplinkBenchError`: the run then measures nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from companion.node import Arrived, NodeStack
from companion.outbox import open_outbox
from companion.outbox.sync import OutboxSync, valid_bundle
from companion.reliability.priority import default_priority
from companion.runtime import StackRuntime
from companion.security.envelope import decode_bundle, encode_bundle
from companion.security.keystore import load_node_keys
from companion.settings import link_key
from companion.transport.udp import open_udp_bind
from dialects import event
from groundstation.gateway import Gateway
from groundstation.records import record_from_message
from groundstation.uplink.base import Uplink
from sitl.mosquitto import HOST
from sitl.provisioning import FleetFiles, provision_fleet

from .clouds import LIMIT, UplinkBenchError

GATEWAY = 255
UAVS = (1, 2, 3, 4)
FLEET = "bench"
"""The fleet's name: its authority's, and its MQTT topic prefix."""
TELEMETRY_EVERY = 2
STATUS_EVERY = 10
AHEAD = 1024
"""Records the radio side may hand over beyond those committed (the gateway queues 4096)."""
POLL = 0.01


@dataclass(frozen=True, slots=True)
class Traffic:
    """Messages as the gateway's stack hands them over, and the cloud ids they become."""

    arrivals: tuple[Arrived, ...]
    ids: frozenset[str]
    """The msg_id of each arrival at the cloud (groundstation.records); all distinct."""


def fleet_traffic(seconds: int, epoch: int) -> Traffic:
    """What the fleet sends in `seconds` from Unix time `epoch`, as the gateway's stack
    hands it over: each message through the sealed-bundle encoding and back."""
    arrivals = []
    for second in range(seconds):
        now = epoch + second
        for uav in UAVS:
            lat, lon = -353632621 + 97 * second + 1000 * uav, 1491652374 + 53 * second
            messages = []
            if second % TELEMETRY_EVERY == 0:
                messages.append(
                    event.MAVLink_event_telemetry_message(
                        now, lat, lon, 400, 850, 9000, 1580, second // 30, 3, 80, 7, 14
                    )
                )
            if second % STATUS_EVERY == 0:
                messages.append(event.MAVLink_event_status_message(now, second, 7, 0, 3, 7, 0, 1))
            messages.append(  # last in each second: an urgent record flushes any batch
                event.MAVLink_event_detection_message(
                    second % 65536, now * 1000, lat, lon, 584, uav, [120, 88, 64, 40], 0, 3, 91
                )
            )
            for message in messages:
                opened = decode_bundle(encode_bundle([message]))
                priority = default_priority(message.get_msgId())
                arrivals.append(Arrived(uav, opened, int(priority), float(second)))
    return Traffic(tuple(arrivals), cloud_ids(arrivals))


def cloud_ids(arrivals: Sequence[Arrived]) -> frozenset[str]:
    """The cloud ids of `arrivals` (groundstation.records); all distinct, or an error."""
    ids = frozenset(
        record_from_message(a.src, a.messages[0], a.priority, gateway=GATEWAY).msg_id
        for a in arrivals
    )
    if len(ids) != len(arrivals):
        raise UplinkBenchError("the generated traffic repeats a msg_id")
    return ids


def provision(directory: Path) -> FleetFiles:
    """The fleet's files, made fresh in `directory`/fleet."""
    return provision_fleet(directory / "fleet", UAVS, ground_station=GATEWAY, name=FLEET)


@asynccontextmanager
async def open_gateway(fleet: FleetFiles, directory: Path) -> AsyncIterator[Gateway]:
    """A Gateway with its node stack and radio outbox, as station.py builds it."""
    keys = load_node_keys(fleet.keys(GATEWAY))
    async with (
        open_udp_bind(HOST, 0) as radio,
        open_outbox(directory / "radio.db", validate=valid_bundle) as outbox,
    ):
        runtime = StackRuntime(NodeStack(keys, link_key(fleet.link_key), gateway=True), radio)
        gateway = Gateway(runtime, OutboxSync(outbox, runtime), wall_clock=time.time)
        runtime.on_arrival = gateway.on_arrival
        yield gateway


async def radio_side(gateway: Gateway, traffic: Traffic) -> float:
    """Hand `traffic` to the gateway (module docstring); the wall time of the first."""
    counters = gateway.counters
    started = time.time()
    for arrived in traffic.arrivals:
        while counters["arrived"] - counters["published"] >= AHEAD:
            check_gateway(gateway)
            await trio.sleep(POLL)
        gateway.on_arrival(arrived)
        await trio.sleep(0)
    return started


def check_gateway(gateway: Gateway) -> None:
    """Raise if the gateway dropped or refused a record (then the run measures nothing)."""
    counters = gateway.counters
    lost = {k: counters[k] for k in ("not_for_cloud", "uplink_queue_full", "uplink_refused")}
    if any(lost.values()):
        raise UplinkBenchError(f"the gateway lost records: {lost}")


async def until(condition: Callable[[], bool], what: str, gateway: Gateway) -> None:
    """Poll `condition` until it holds; UplinkBenchError naming `what` after LIMIT s."""
    with trio.move_on_after(LIMIT):
        while not condition():
            check_gateway(gateway)
            await trio.sleep(POLL)
        return
    raise UplinkBenchError(f"waited {LIMIT:.0f} s for {what}; gateway {gateway.snapshot()}")


@asynccontextmanager
async def publishing(gateway: Gateway, uplink: Uplink) -> AsyncIterator[None]:
    """Run the gateway's publisher task into `uplink` for the block's duration."""
    gateway.uplink = uplink
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gateway.publish_loop)
        yield
        nursery.cancel_scope.cancel()


async def backlog_of(gateway: Gateway, uplink: Uplink, count: int) -> None:
    """Wait until `count` records are committed in the uplink's outbox, none confirmed."""
    await until(lambda: gateway.counters["published"] == count, "the backlog committed", gateway)
    depth = (await uplink.backlog()).depth
    if depth != count:
        raise UplinkBenchError(f"outbox holds {depth} records, not the {count} published")
