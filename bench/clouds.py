"""The cloud ends of the uplink benchmark: the reference command center as its own process,
and a paho subscriber standing in for the cloud's MQTT consumer.

Rules:
- Each counts what reached it by msg_id with the time it first arrived, from its own
  records (the command center's SQLite file, read beside the service as its `list`
  command does; the subscriber's callbacks on paho's thread, under a lock).
- Anything that is not a record, or a part that does not start within `LIMIT` seconds,
  is an `UplinkBenchError`: the bench never reports a figure for a run that failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio
from paho.mqtt.client import Client, ConnectFlags, MQTTMessage, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from groundstation.command_center import CommandCenterStore
from sitl.mosquitto import HOST
from sitl.provisioning import FleetFiles
from sitl.terminate import terminate

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 120.0
"""Seconds any part may take to start, or the cloud to hold what it should."""


class UplinkBenchError(RuntimeError):
    """The run did not deliver what it measures: a record missing, a part not starting."""


@dataclass(frozen=True, slots=True)
class CommandCenter:
    url: str
    gateway_token: str
    admin: httpx.AsyncClient
    store: CommandCenterStore
    """The service's SQLite file, read beside it (WAL), as its `list` command does."""

    def stored(self) -> dict[str, float]:
        """msg_id -> received time of every record the command center holds."""
        rows = self.store.records(limit=1_000_000)
        return {record.msg_id: received for _, record, received in rows}


@asynccontextmanager
async def open_command_center(directory: Path, fleet: FleetFiles) -> AsyncIterator[CommandCenter]:
    """`python -m groundstation.command_center serve` on a free port, its database in
    `directory`, the identities `fleet`'s tokens; until the block ends."""
    db = directory / "cloud.db"
    command = [sys.executable, "-m", "groundstation.command_center", "serve", "--db", str(db)]
    command += ["--port", "0", "--token-file", str(fleet.token_file)]
    process = await trio.lowlevel.open_process(command, cwd=ROOT, stdout=subprocess.PIPE)
    assert process.stdout is not None
    try:
        line = b""
        with trio.move_on_after(LIMIT):
            while b"\n" not in line and (chunk := await process.stdout.receive_some()):
                line += chunk
        if not line.startswith(b"reference command center listening on "):
            raise UplinkBenchError(f"the command center did not start: {line!r}")
        url = line.decode().split()[-1]
        store = CommandCenterStore(db)
        try:
            headers = {"Authorization": f"Bearer {fleet.tokens.admin}"}
            async with httpx.AsyncClient(base_url=url, headers=headers) as admin:
                yield CommandCenter(url, fleet.tokens.gateway, admin, store)
        finally:
            store.close()
    finally:
        await terminate(process, LIMIT)
        with trio.CancelScope(shield=True):
            await process.stdout.aclose()


class MqttCloud:
    """The cloud's consumer, a stand-in: paho on its own network thread (`loop_start`),
    MQTT 3.1.1, persistent session, subscribed at QoS 1 to every UAV record. Callbacks
    run on paho's thread and only record under a lock."""

    def __init__(self, port: int, fleet: str) -> None:
        self._client = Client(
            CallbackAPIVersion.VERSION2,
            client_id="bench-cloud",
            clean_session=False,
            protocol=MQTTv311,
        )
        self._port = port
        self._fleet = fleet
        self._lock = threading.Lock()
        self._first: dict[str, float] = {}
        self._subscribed = False
        self._malformed = 0
        self._client.on_connect = self._connected
        self._client.on_subscribe = self._suback
        self._client.on_message = self._received

    def _connected(
        self, client: Client, _u: object, _f: ConnectFlags, code: ReasonCode, _p: Properties | None
    ) -> None:
        if not code.is_failure:
            client.subscribe(f"event/{self._fleet}/uav/#", qos=1)

    def _suback(
        self, _c: Client, _u: object, _m: int, _codes: list[ReasonCode], _p: Properties | None
    ) -> None:
        with self._lock:
            self._subscribed = True

    def _received(self, _c: Client, _u: object, message: MQTTMessage) -> None:
        at = time.time()
        try:
            msg_id = json.loads(message.payload)["msg_id"]
        except (ValueError, KeyError, TypeError):
            with self._lock:
                self._malformed += 1
            return
        with self._lock:
            self._first.setdefault(msg_id, at)

    def subscribed(self) -> bool:
        with self._lock:
            return self._subscribed

    def arrived(self) -> dict[str, float]:
        """msg_id -> when it first arrived; UplinkBenchError if a payload was no record."""
        with self._lock:
            if self._malformed:
                raise UplinkBenchError(f"{self._malformed} payloads at the cloud were no record")
            return dict(self._first)

    def count(self) -> int:
        with self._lock:
            return len(self._first)

    def open(self) -> None:
        """Connect and start paho's thread (blocking: call through trio.to_thread)."""
        self._client.connect(HOST, self._port)
        self._client.loop_start()

    def close(self) -> None:
        """Disconnect and join paho's thread (blocking: call through trio.to_thread)."""
        self._client.disconnect()
        self._client.loop_stop()
