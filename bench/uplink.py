"""Uplink benchmark: messages per second from the ground station's radio side to the cloud,
over HTTP and MQTT, and how fast the backlog of a 10-minute outage drains.

Set-up, all on loopback, all real parts:
- the radio side (bench/station.py): a fleet of 4 UAVs provisioned fresh, its traffic
  handed to a `Gateway` wired as groundstation/station.py wires it, at the place where
  the gateway's node stack hands over what it opened;
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

Traffic: bench/station.py's fleet at the agent's default rates plus a detection per second
per UAV: 6.4 records/s, 3,840 in 10 minutes.

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
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from bench.table import Row, render
from companion.transport.backoff import Backoff
from groundstation.gateway import Gateway
from groundstation.uplink.http import HttpUplink, open_http_uplink
from groundstation.uplink.http_config import HttpUplinkConfig
from groundstation.uplink.mqtt import MqttConfig, MqttUplink, open_mqtt_uplink
from sitl.mosquitto import HOST, MosquittoBroker, find_mosquitto
from sitl.provisioning import FleetFiles

from .clouds import CommandCenter, MqttCloud, UplinkBenchError, open_command_center
from .station import (
    FLEET,
    GATEWAY,
    UAVS,
    Traffic,
    backlog_of,
    fleet_traffic,
    open_gateway,
    provision,
    publishing,
    radio_side,
    until,
)

OUTAGE = 600
"""Seconds of fleet traffic in the backlog, and offered for throughput."""
QUICK_OUTAGE = 60
RETRY = Backoff(initial=0.5, maximum=2.0)


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


def delivered(arrived: dict[str, float], traffic: Traffic, started: float) -> Delivery:
    """The Delivery of exactly `traffic`; UplinkBenchError if the cloud lacks any."""
    missing, extra = traffic.ids - arrived.keys(), arrived.keys() - traffic.ids
    if missing or extra:
        raise UplinkBenchError(f"cloud lacks {len(missing)} records, has {len(extra)} others")
    return Delivery(arrived, started)


async def after_failure(failures: Callable[[], int], gateway: Gateway) -> None:
    """Return just after the uplink's next failed attempt once its retry wait is at the
    ceiling: the cloud then comes back at the worst moment, and the wait is known."""
    ceiling = next(n for n in range(64) if RETRY.delay(n) >= RETRY.maximum) + 1
    await until(lambda: failures() >= ceiling, "the retry wait at its ceiling", gateway)
    seen = failures()
    await until(lambda: failures() > seen, "a failed attempt", gateway)


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


@asynccontextmanager
async def http_station(
    directory: Path, fleet: FleetFiles, center: CommandCenter
) -> AsyncIterator[tuple[Gateway, HttpUplink]]:
    """A gateway publishing into an HTTP uplink to `center`."""
    async with (
        open_gateway(fleet, directory) as gateway,
        open_http_uplink(http_config(center, directory), gateway.on_command) as uplink,
        publishing(gateway, uplink),
    ):
        yield gateway, uplink


async def http_throughput(directory: Path, traffic: Traffic) -> Delivery:
    fleet = provision(directory)
    async with (
        open_command_center(directory, fleet) as center,
        http_station(directory, fleet, center) as (gateway, uplink),
    ):
        started = await radio_side(gateway, traffic)
        return await http_delivery(center, uplink, traffic, started, gateway)


async def http_drain(directory: Path, traffic: Traffic) -> Delivery:
    fleet = provision(directory)
    async with open_command_center(directory, fleet) as center:
        (await center.admin.post("/admin/faults", json={"mode": "drop"})).raise_for_status()
        async with http_station(directory, fleet, center) as (gateway, uplink):
            await radio_side(gateway, traffic)
            await backlog_of(gateway, uplink, len(traffic.ids))
            await after_failure(lambda: uplink.stats()["retries"], gateway)
            if leaked := center.store.count():
                raise UplinkBenchError(f"{leaked} records reached the cloud during the outage")
            (await center.admin.delete("/admin/faults")).raise_for_status()
            restored = time.time()
            return await http_delivery(center, uplink, traffic, restored, gateway)


async def http_delivery(
    center: CommandCenter, uplink: HttpUplink, traffic: Traffic, started: float, gateway: Gateway
) -> Delivery:
    """Wait until the command center holds the traffic's records, or the uplink has them
    all confirmed (the service stores before it answers: then any shortfall is final);
    what arrived."""
    count = len(traffic.ids)

    def settled() -> bool:
        stats = uplink.stats()
        done = stats["confirmed"] + stats["duplicates"] >= count
        return done or center.store.count() >= count

    await until(settled, f"{count} records at the command center", gateway)
    return delivered(center.stored(), traffic, started)


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


@asynccontextmanager
async def mqtt_station(
    directory: Path, broker: MosquittoBroker
) -> AsyncIterator[tuple[Gateway, MqttUplink]]:
    """A gateway publishing into an MQTT uplink connected to `broker`."""
    path = directory / "uplink.db"
    async with (
        open_gateway(provision(directory), directory) as gateway,
        open_mqtt_uplink(mqtt_config(broker), path, on_command=gateway.on_command) as uplink,
        publishing(gateway, uplink),
    ):
        await until(lambda: uplink.stats()["connected"] == 1, "the uplink's CONNACK", gateway)
        yield gateway, uplink


async def mqtt_delivery(
    cloud: MqttCloud, traffic: Traffic, started: float, gateway: Gateway
) -> Delivery:
    """Wait until the cloud has seen every record of the traffic; what arrived."""
    count = len(traffic.ids)
    await until(lambda: cloud.count() >= count, f"{count} records at the cloud", gateway)
    return delivered(cloud.arrived(), traffic, started)


async def mqtt_throughput(directory: Path, traffic: Traffic) -> Delivery:
    async with (
        running_broker(directory) as broker,
        mqtt_station(directory, broker) as (gateway, _),
        open_mqtt_cloud(broker, gateway) as cloud,
    ):
        started = await radio_side(gateway, traffic)
        return await mqtt_delivery(cloud, traffic, started, gateway)


async def mqtt_drain(directory: Path, traffic: Traffic) -> Delivery:
    async with (
        running_broker(directory) as broker,
        mqtt_station(directory, broker) as (gateway, uplink),
    ):
        async with open_mqtt_cloud(broker, gateway):
            pass  # the cloud's persistent session now exists: the broker keeps it
        await trio.to_thread.run_sync(broker.stop)  # SIGTERM: sessions saved
        await radio_side(gateway, traffic)
        await backlog_of(gateway, uplink, len(traffic.ids))
        await after_failure(lambda: uplink.stats()["connect_failures"], gateway)
        await trio.to_thread.run_sync(broker.start)
        restored = time.time()
        async with open_mqtt_cloud(broker, gateway) as cloud:
            return await mqtt_delivery(cloud, traffic, restored, gateway)


# -- the run --------------------------------------------------------------------------

Phase = Callable[[Path, Traffic], Awaitable[Delivery]]


async def measure(seconds: int, directory: Path, mqtt: bool) -> dict[str, Delivery]:
    """Each phase in a directory of its own, one after the other (2 cores, shared)."""
    epoch = int(time.time()) - 2 * seconds
    traffic, backlog = fleet_traffic(seconds, epoch), fleet_traffic(seconds, epoch + seconds)
    phases: list[tuple[str, Phase, Traffic]] = [
        ("HTTP", http_throughput, traffic),
        ("HTTP drain", http_drain, backlog),
    ]
    if mqtt:
        phases += [("MQTT", mqtt_throughput, traffic), ("MQTT drain", mqtt_drain, backlog)]
    figures = {}
    for name, phase, offered in phases:
        place = directory / name.replace(" ", "-")
        place.mkdir()
        try:
            figures[name] = await phase(place, offered)
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


if __name__ == "__main__":
    # The outages are made on purpose: the uplinks' warnings about them are expected.
    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(message)s")
    print(render(rows()))
