"""Uplink benchmark: messages per second from the ground station's radio side to the cloud,
over HTTP and MQTT, and how fast the backlog of a 10-minute outage drains.

Set-up, all on loopback, all real parts:
- the radio side: a `Gateway` wired as groundstation/station.py wires it (a gateway
  `NodeStack` under `StackRuntime` on a real UDP socket, certificates from a fresh fleet
  authority, its radio outbox in SQLite), fed at `Gateway.on_arrival` with `Arrived`
  objects, where the stack hands over an authenticated inner message. Each is a dialect
  message (EVENT_DETECTION, EVENT_TELEMETRY, EVENT_STATUS) put through the sealed-bundle
  encoding and back (`encode_bundle`/`decode_bundle`), as the stack opens it. The radio
  loops do not run: nothing comes over the air (bench/link.py and bench/security.py
  measure that part). Messages are handed over as fast as the gateway takes them, never
  more than `AHEAD` beyond what the uplink has committed, so the gateway's bounded queue
  never overflows (it would drop);
- the gateway's publisher task commits each record to the uplink's durable outbox
  (SQLite; the task awaits each commit), and the uplink sends: `open_http_uplink` as the
  station configures it (batches of up to 200; telemetry waits up to 1 s for an urgent
  record to go with) or `open_mqtt_uplink` (QoS 1, 20 in flight, persistent session);
- the cloud, HTTP: the reference command center in its own process (`python -m
  groundstation.command_center serve`), counted in its SQLite file by the `received`
  time of each record. MQTT: a real Mosquitto (sitl/mosquitto.py) and, as the cloud, a
  paho subscriber (`MqttCloud`, a stand-in for the cloud's consumer: QoS 1, persistent
  session, paho's own thread) noting when each distinct msg_id first came.
Every phase checks that the cloud holds exactly the records sent (by msg_id); anything
missing or lost on the way raises `UplinkBenchError`.

Traffic: a fleet of 4 UAVs at the agent's defaults, telemetry every 2 s and status every
10 s per UAV (a record each: the uplink, not the agent, batches them), plus a detection
per second per UAV (a busy search): 6.4 records/s, 3,840 in 10 minutes.

Measures:
- throughput: records / (last stored at the cloud - first handed to `on_arrival`), for
  10 minutes of fleet traffic. A capacity figure: one 64 kbit/s radio channel brings in
  at most about 100 frames/s.
- drain after a 10-minute outage, without waiting 10 minutes: with the cloud away (HTTP:
  `POST /admin/faults {"mode": "drop"}` on the command center's admin API, so every
  request's connection closes unanswered; MQTT: the broker stopped by SIGTERM), the
  3,840 records of 10 minutes enter at `on_arrival` and are committed. Then the cloud
  comes back (fault cleared; broker started, the cloud's subscriber reconnected at once,
  its persistent session holding whatever came first) just after a failed attempt of the
  uplink, the worst moment. Drain rate: records per second from the first record at the
  cloud after the return to the last (those of that first instant not counted: their
  transfer is not in the window). Time to empty: from the return to the last record,
  the uplink's retry wait included; here its ceiling is `RETRY.maximum` (2 s), in the
  station 30 s by default.
- quick mode (the test suite) uses 1 minute of fleet traffic (384 records) for each, and
  says so in the notes.
The seed design posts one HTTP request per message, but ../shared/peers/seed_baseline.py
has no uplink (no HTTP or MQTT path) to measure, so `seed` is None in every row.
"""

from __future__ import annotations

import logging
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from bench.table import Row, render
from companion.node import Arrived, NodeStack
from companion.outbox import open_outbox
from companion.outbox.sync import OutboxSync, valid_bundle
from companion.reliability.priority import default_priority
from companion.runtime import StackRuntime
from companion.security.authority import FleetAuthority
from companion.security.certificate import Role
from companion.security.envelope import decode_bundle, encode_bundle
from companion.transport.backoff import Backoff
from companion.transport.udp import open_udp_bind
from dialects import event
from groundstation.gateway import Gateway
from groundstation.records import record_from_message
from groundstation.uplink.base import Uplink
from groundstation.uplink.http import HttpUplink, HttpUplinkConfig, open_http_uplink
from groundstation.uplink.mqtt import MqttConfig, MqttUplink, open_mqtt_uplink
from sitl.mosquitto import HOST, MosquittoBroker, find_mosquitto

from .clouds import LIMIT, CommandCenter, MqttCloud, UplinkBenchError, open_command_center

GATEWAY = 255
UAVS = (1, 2, 3, 4)
TELEMETRY_EVERY = 2
STATUS_EVERY = 10
OUTAGE = 600
"""Seconds of fleet traffic in the backlog, and offered for throughput."""
QUICK_OUTAGE = 60
FLEET = "bench"
DAY = 86_400
AHEAD = 1024
"""Records the radio side may hand over beyond those committed (the gateway queues 4096)."""
RETRY = Backoff(initial=0.5, maximum=2.0)
POLL = 0.01


@dataclass(frozen=True, slots=True)
class Delivery:
    """What reached the cloud: when each msg_id first arrived there (wall clock)."""

    arrived: dict[str, float]
    started: float
    """Throughput: the first hand-over to the gateway. Drain: the cloud's return."""

    def rate(self) -> float:
        return len(self.arrived) / (max(self.arrived.values()) - self.started)

    def drain_rate(self) -> float:
        times = sorted(self.arrived.values())
        counted = sum(t > times[0] for t in times)
        if counted == 0 or times[-1] == times[0]:
            raise UplinkBenchError("the whole backlog arrived at one instant: no rate")
        return counted / (times[-1] - times[0])

    def to_empty(self) -> float:
        return max(self.arrived.values()) - self.started

    def wait(self) -> float:
        return min(self.arrived.values()) - self.started


# -- traffic --------------------------------------------------------------------------


def fleet_traffic(seconds: int, epoch: int) -> list[Arrived]:
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
    return arrivals


def msg_ids(arrivals: Sequence[Arrived]) -> set[str]:
    """The cloud ids of `arrivals` (groundstation.records); all distinct, or an error."""
    ids = {
        record_from_message(a.src, a.messages[0], a.priority, gateway=GATEWAY).msg_id
        for a in arrivals
    }
    if len(ids) != len(arrivals):
        raise UplinkBenchError("the generated traffic repeats a msg_id")
    return ids


# -- the ground station's side ----------------------------------------------------------


@asynccontextmanager
async def open_gateway(directory: Path) -> AsyncIterator[Gateway]:
    """A Gateway with its node stack and radio outbox, as station.py builds it."""
    authority = FleetAuthority.create("bench")
    _, keys = authority.issue(GATEWAY, Role.GROUND_STATION, valid_for=DAY, now=time.time())
    async with (
        open_udp_bind(HOST, 0) as radio,
        open_outbox(directory / "radio.db", validate=valid_bundle) as outbox,
    ):
        runtime = StackRuntime(NodeStack(keys, secrets.token_bytes(32), gateway=True), radio)
        gateway = Gateway(runtime, OutboxSync(outbox, runtime), wall_clock=time.time)
        runtime.on_arrival = gateway.on_arrival
        yield gateway


async def radio_side(gateway: Gateway, arrivals: Sequence[Arrived]) -> float:
    """Hand `arrivals` to the gateway (module docstring); the wall time of the first."""
    counters = gateway.counters
    started = time.time()
    for arrived in arrivals:
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


async def backlog_of(gateway: Gateway, uplink: HttpUplink | MqttUplink, count: int) -> None:
    """Wait until `count` records are committed in the uplink's outbox, none confirmed."""
    await until(lambda: gateway.counters["published"] == count, "the backlog committed", gateway)
    depth = (await uplink.backlog()).depth
    if depth != count:
        raise UplinkBenchError(f"outbox holds {depth} records, not the {count} published")


# -- HTTP: the reference command center in its own process -----------------------------


def http_config(center: CommandCenter, directory: Path) -> HttpUplinkConfig:
    """The station's HTTP uplink configuration (groundstation/station.py), bench backoff."""
    return HttpUplinkConfig(
        base_url=center.url,
        token=center.gateway_token,
        outbox_path=directory / "uplink.db",
        gateway=GATEWAY,
        backoff=RETRY,
    )


async def http_throughput(directory: Path, arrivals: Sequence[Arrived]) -> Delivery:
    expected = msg_ids(arrivals)
    async with (
        open_command_center(directory) as center,
        open_gateway(directory) as gateway,
        open_http_uplink(http_config(center, directory), gateway.on_command) as uplink,
        publishing(gateway, uplink),
    ):
        started = await radio_side(gateway, arrivals)
        await http_settled(center, uplink, len(expected), gateway)
        return delivered(center.stored(), expected, started)


async def http_drain(directory: Path, arrivals: Sequence[Arrived]) -> Delivery:
    expected = msg_ids(arrivals)
    async with open_command_center(directory) as center:
        (await center.admin.post("/admin/faults", json={"mode": "drop"})).raise_for_status()
        async with (
            open_gateway(directory) as gateway,
            open_http_uplink(http_config(center, directory), gateway.on_command) as uplink,
            publishing(gateway, uplink),
        ):
            await radio_side(gateway, arrivals)
            await backlog_of(gateway, uplink, len(expected))
            await after_failure(lambda: uplink.stats()["retries"], gateway)
            if leaked := center.store.count():
                raise UplinkBenchError(f"{leaked} records reached the cloud during the outage")
            (await center.admin.delete("/admin/faults")).raise_for_status()
            restored = time.time()
            await http_settled(center, uplink, len(expected), gateway)
            return delivered(center.stored(), expected, restored)


async def http_settled(
    center: CommandCenter, uplink: HttpUplink, count: int, gateway: Gateway
) -> None:
    """Wait until the command center holds `count` records, or the uplink has `count`
    confirmed (the service stores before it answers: then any shortfall is final)."""

    def settled() -> bool:
        stats = uplink.stats()
        done = stats["confirmed"] + stats["duplicates"] >= count
        return done or center.store.count() >= count

    await until(settled, f"{count} records at the command center", gateway)


async def after_failure(failures: Callable[[], int], gateway: Gateway) -> None:
    """Return just after the uplink's next failed attempt once its retry wait is at the
    ceiling: the cloud then comes back at the worst moment, and the wait is known."""
    ceiling = next(n for n in range(64) if RETRY.delay(n) >= RETRY.maximum) + 1
    await until(lambda: failures() >= ceiling, "the retry wait at its ceiling", gateway)
    seen = failures()
    await until(lambda: failures() > seen, "a failed attempt", gateway)


def delivered(arrived: dict[str, float], expected: set[str], started: float) -> Delivery:
    """The Delivery of exactly `expected`; UplinkBenchError if the cloud lacks any."""
    missing, extra = expected - arrived.keys(), arrived.keys() - expected
    if missing or extra:
        raise UplinkBenchError(f"cloud lacks {len(missing)} records, has {len(extra)} others")
    return Delivery(arrived, started)


# -- MQTT: a real Mosquitto and the cloud's subscriber ----------------------------------


@asynccontextmanager
async def open_mqtt_cloud(broker: MosquittoBroker, gateway: Gateway) -> AsyncIterator[MqttCloud]:
    cloud = MqttCloud(broker.port, FLEET)
    await trio.to_thread.run_sync(cloud.open)
    try:
        await until(cloud.subscribed, "the cloud's SUBACK", gateway)
        yield cloud
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(cloud.close)


def mqtt_config(broker: MosquittoBroker) -> MqttConfig:
    """The station's MQTT uplink configuration (groundstation/station.py), bench backoff."""
    return MqttConfig(host=HOST, port=broker.port, fleet=FLEET, gateway=GATEWAY, backoff=RETRY)


@asynccontextmanager
async def running_broker(directory: Path) -> AsyncIterator[MosquittoBroker]:
    broker = MosquittoBroker(directory / "broker")
    try:
        await trio.to_thread.run_sync(broker.start)
        yield broker
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(broker.close)


MqttStation = tuple[Gateway, MqttUplink]


@asynccontextmanager
async def mqtt_station(directory: Path, broker: MosquittoBroker) -> AsyncIterator[MqttStation]:
    """A gateway publishing into an MQTT uplink connected to `broker`."""
    path = directory / "uplink.db"
    async with (
        open_gateway(directory) as gateway,
        open_mqtt_uplink(mqtt_config(broker), path, on_command=gateway.on_command) as uplink,
        publishing(gateway, uplink),
    ):
        await until(lambda: uplink.stats()["connected"] == 1, "the uplink's CONNACK", gateway)
        yield gateway, uplink


async def mqtt_throughput(directory: Path, arrivals: Sequence[Arrived]) -> Delivery:
    expected = msg_ids(arrivals)
    async with (
        running_broker(directory) as broker,
        mqtt_station(directory, broker) as (gateway, _),
        open_mqtt_cloud(broker, gateway) as cloud,
    ):
        started = await radio_side(gateway, arrivals)
        what = f"{len(expected)} records at the cloud"
        await until(lambda: cloud.count() >= len(expected), what, gateway)
        return delivered(cloud.arrived(), expected, started)


async def mqtt_drain(directory: Path, arrivals: Sequence[Arrived]) -> Delivery:
    expected = msg_ids(arrivals)
    async with (
        running_broker(directory) as broker,
        mqtt_station(directory, broker) as (gateway, uplink),
    ):
        async with open_mqtt_cloud(broker, gateway):
            pass  # the cloud's persistent session now exists: the broker keeps it
        await trio.to_thread.run_sync(broker.stop)  # SIGTERM: sessions saved
        await radio_side(gateway, arrivals)
        await backlog_of(gateway, uplink, len(expected))
        await after_failure(lambda: uplink.stats()["connect_failures"], gateway)
        await trio.to_thread.run_sync(broker.start)
        restored = time.time()
        async with open_mqtt_cloud(broker, gateway) as cloud:
            what = f"the backlog of {len(expected)} at the cloud"
            await until(lambda: cloud.count() >= len(expected), what, gateway)
            return delivered(cloud.arrived(), expected, restored)


# -- the run --------------------------------------------------------------------------

Phase = Callable[[Path, Sequence[Arrived]], Awaitable[Delivery]]


async def measure(seconds: int, directory: Path, mqtt: bool) -> dict[str, Delivery]:
    """Each phase in a directory of its own, one after the other (2 cores, shared)."""
    epoch = int(time.time()) - 2 * seconds
    traffic, backlog = fleet_traffic(seconds, epoch), fleet_traffic(seconds, epoch + seconds)
    phases: list[tuple[str, Phase, list[Arrived]]] = [
        ("HTTP", http_throughput, traffic),
        ("HTTP drain", http_drain, backlog),
    ]
    if mqtt:
        phases += [("MQTT", mqtt_throughput, traffic), ("MQTT drain", mqtt_drain, backlog)]
    figures = {}
    for name, phase, arrivals in phases:
        place = directory / name.replace(" ", "-")
        place.mkdir()
        try:
            figures[name] = await phase(place, arrivals)
        except BaseExceptionGroup as group:  # from the nurseries a phase runs in
            found, _ = group.split(UplinkBenchError)
            if found is None:
                raise
            raise UplinkBenchError(f"{name}: {'; '.join(map(str, leaves(found)))}") from group
    return figures


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def rows(*, quick: bool = False) -> list[Row]:
    """Measure throughput and the outage drain, HTTP and (with Mosquitto) MQTT."""
    seconds = QUICK_OUTAGE if quick else OUTAGE
    missing = None if find_mosquitto() else "mosquitto is not installed (apt-get install mosquitto)"
    if missing:
        print(f"bench.uplink: MQTT rows omitted: {missing}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-uplink-") as directory:
        figures = trio.run(measure, seconds, Path(directory), missing is None)
    minutes, scale = f"{seconds / 60:g} min", " (quick; 10 min in full)" * quick
    out = []
    for transport in ("HTTP", "MQTT"):
        if transport not in figures:
            continue
        sent, drain = figures[transport], figures[f"{transport} drain"]
        seed = "; seed: none, seed_baseline.py has no uplink" if transport == "HTTP" else ""
        wait = f"{drain.wait():.1f} s of it the retry wait (ceiling {RETRY.maximum:g} s)"
        out += [
            Row("uplink", f"{transport} radio->cloud", sent.rate(), "msg/s", note=(
                f"{len(sent.arrived):,} records, {minutes} of {len(UAVS)} UAVs' traffic{scale}"
                f"{seed}")),
            Row("uplink", f"{transport} drain after 10-min outage", drain.drain_rate(), "msg/s",
                note=f"{len(drain.arrived):,} records held back by a {minutes} outage{scale}"),
            Row("uplink", f"{transport} time to empty after 10-min outage", drain.to_empty(),
                "s", higher_is_better=False, note=wait),
        ]  # fmt: skip
    return out


def main() -> None:
    # The outages are made on purpose: the uplinks' warnings about them are expected.
    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(message)s")
    print(render(rows()))


if __name__ == "__main__":
    main()
