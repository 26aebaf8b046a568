"""Hostile payloads on the topic a running `event-ground-station` process subscribes to,
through a real Mosquitto (issue 17): the process lives on, counts every refusal by its
reason in status.json, logs a bounded number of lines, and takes the next valid command
into its radio outbox."""

from __future__ import annotations

import itertools
import json
import random
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.client import Client, MQTTMessage, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion

from groundstation.command_payload import REASONS, read_command
from groundstation.commands import CommandError
from groundstation.config import load_station_config
from sitl.mosquitto import HOST, MosquittoBroker
from sitl.provisioning import provision_fleet, write_station_config
from tests.groundstation.mosquitto import needs_mosquitto
from tests.processes import WAIT, free_port, read_status, start_daemon, stop_daemon, until

FLEET, GATEWAY, UAV = "f1", 255, 1
TOPIC = f"event/{FLEET}/commands/{GATEWAY}"
LIMIT = 64 * 1024
HOSTILE = 3000
BATCH = 250
"""Payloads published before waiting for status.json to count them: far below
Mosquitto's per-client queue (max_queued_messages 1000), so the broker drops none."""

VALID = {
    "command_id": "abort-1",
    "uav": UAV,
    "type": "mission_assign",
    "params": {"mission_id": 9, "items": [{"lat": -35.36, "lon": 149.16, "alt": 30.0}]},
}


def hostile_payloads(rng: random.Random) -> Iterator[bytes]:
    """Payloads of every kind a broken or malicious cloud could publish, none valid."""
    valid = json.dumps(VALID).encode()
    makers: list[Callable[[], bytes]] = [
        lambda: rng.randbytes(rng.randrange(0, 300)),
        lambda: _flip(valid, rng),
        lambda: valid[: rng.randrange(len(valid))],
        lambda: b"[" * rng.randrange(17, 200_000),
        lambda: b'{"a":' * rng.randrange(17, 5000),
        lambda: b'{"command_id": "x", "uav": ' + b"9" * rng.randrange(33, 20_000) + b"}",
        lambda: _with(rng, rng.choice(_ABSURD)),
        lambda: json.dumps(rng.choice(_NOT_OBJECTS)).encode(),
        lambda: b" " * (LIMIT + rng.randrange(1, 10_000)),
        lambda: rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80"]) + valid,
    ]
    while True:
        payload = rng.choice(makers)()
        try:
            read_command(payload, LIMIT)
        except CommandError:
            yield payload


_ABSURD: list[Any] = [
    float("nan"), float("inf"), -float("inf"), 1e308, 2**64, -1, 0, True, None, "3",
    [], {}, [1.5], 3.5,
]  # fmt: skip
_NOT_OBJECTS: list[Any] = [[], [VALID], "command", 1, None, True, 2.5]


def _flip(data: bytes, rng: random.Random) -> bytes:
    mutable = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        mutable[rng.randrange(len(mutable))] = rng.randrange(256)
    return bytes(mutable)


def _with(rng: random.Random, value: Any) -> bytes:
    """The valid command with one field (top level, params or the item) set to `value`."""
    command = json.loads(json.dumps(VALID))
    target = rng.choice([command, command["params"], command["params"]["items"][0]])
    target[rng.choice(sorted(target))] = value
    return json.dumps(command).encode()


@needs_mosquitto
def test_hostile_payloads_are_counted_by_reason_and_a_valid_command_is_taken(
    tmp_path: Path, report: Callable[[str], None]
) -> None:
    files = provision_fleet(tmp_path / "fleet", (UAV,), ground_station=GATEWAY)
    log_path = tmp_path / "station.log"
    with MosquittoBroker(tmp_path / "broker") as broker, log_path.open("wb") as log:
        config = write_station_config(
            files,
            radio=f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
            mqtt_host=HOST,
            mqtt_port=broker.port,
            fleet=FLEET,
            status_interval=1.0,
        )
        status_path = load_station_config(config).state_dir / "status.json"
        station = start_daemon("groundstation.cli", config, log)
        cloud = Cloud(broker.port)
        try:
            report(_hostile_run(station, cloud, status_path, log_path))
        finally:
            cloud.close()
            stop_daemon(station)


class Cloud:
    """A hostile command center: publishes at QoS 1, watches the gateway's status topic."""

    def __init__(self, port: int) -> None:
        self.client = Client(CallbackAPIVersion.VERSION2, client_id="hostile", protocol=MQTTv5)
        self.online = threading.Event()
        self.client.on_message = self._received
        self.client.connect(HOST, port)
        self.client.subscribe(f"event/{FLEET}/gateway/{GATEWAY}/status", qos=1)
        self.client.loop_start()

    def _received(self, _c: Client, _u: object, message: MQTTMessage) -> None:
        if message.payload == b"online":
            self.online.set()

    def publish(self, payloads: list[bytes]) -> None:
        sent = [self.client.publish(TOPIC, payload, qos=1) for payload in payloads]
        for info in sent:
            info.wait_for_publish(WAIT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _hostile_run(
    station: subprocess.Popen[bytes], cloud: Cloud, status_path: Path, log_path: Path
) -> str:
    started = time.monotonic()
    # "online" follows the station's SUBSCRIBE on its connection: it is subscribed by then.
    until(cloud.online.is_set, "the station online (subscribed to its command topic)")
    payloads = list(itertools.islice(hostile_payloads(random.Random(17)), HOSTILE))
    expected = Counter(_reason(payload) for payload in payloads)
    for start in range(0, HOSTILE, BATCH):
        cloud.publish(payloads[start : start + BATCH])
        taken = start + len(payloads[start : start + BATCH])
        until(
            partial(_counted, status_path, taken),
            f"{taken} payloads counted",
            explain=lambda: (
                f"{_uplink(status_path)}\n{log_path.read_text(errors='replace')[-3000:]}"
            ),
        )
        assert station.poll() is None, log_path.read_text(errors="replace")[-3000:]
    uplink = _uplink(status_path)
    assert uplink["malformed_commands"] == HOSTILE
    assert {reason: uplink[f"malformed_{reason}"] for reason in REASONS} == {
        reason: expected[reason] for reason in REASONS
    }
    cloud.publish([json.dumps(VALID).encode()])
    status = until(lambda: _queued(status_path), "the valid command in the radio outbox")
    assert station.poll() is None
    lines = log_path.read_text(errors="replace").splitlines()
    refusals = [line for line in lines if "event=command_refused" in line]
    minutes = (time.monotonic() - started) / 60
    assert len(refusals) <= len(REASONS) * (1 + int(minutes)), refusals
    assert len(lines) < 100, lines[-20:]
    return (
        f"MQTT hostile payloads: {HOSTILE} refused ({dict(expected)}), "
        f"{len(refusals)} refusal log lines, {len(lines)} log lines in all, "
        f"then a valid command queued (radio outbox {status['radio_outbox_depth']})"
    )


def _reason(payload: bytes) -> str:
    with pytest.raises(CommandError) as refused:
        read_command(payload, LIMIT)
    return refused.value.reason


def _counted(path: Path, taken: int) -> bool:
    return _uplink(path).get("commands") == taken


def _uplink(path: Path) -> dict[str, Any]:
    status = read_status(path)
    return {} if status is None else dict(status["uplink"])


def _queued(path: Path) -> dict[str, Any] | None:
    status = read_status(path)
    if status is None or status["gateway"].get("commands") != 1:
        return None
    return status if status["radio_outbox_depth"] >= 1 else None
