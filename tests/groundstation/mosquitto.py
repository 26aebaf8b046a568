"""Helpers for tests against a real Mosquitto: the cloud's client, records, waiting.

`CloudClient` plays the command center: a separate paho client on paho's own network
thread (`loop_start`), MQTT 3.1.1 with a persistent session (fixed client id, clean
session off), subscribed at QoS 1. It shares no code with the uplink under test, so a
bug there cannot hide itself here, and it shows a 3.1.1 consumer reading what an MQTT 5
publisher sent. Its callbacks run on paho's thread and only append under a lock; tests
read snapshots.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
import trio
from paho.mqtt.client import Client, ConnectFlags, MQTTMessage, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from companion.transport.backoff import Backoff
from groundstation.records import Record
from groundstation.uplink.mqtt import MqttConfig
from sitl.mosquitto import HOST, MosquittoBroker, find_mosquitto

needs_mosquitto = pytest.mark.skipif(
    find_mosquitto() is None,
    reason="mosquitto not installed (CI installs it: apt-get install mosquitto)",
)
FLEET = "f1"
WAIT = 30.0
"""Generous limit for any condition a test waits on (a loaded 2-core machine)."""


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail after WAIT seconds naming `what`."""
    with trio.move_on_after(WAIT):
        while not condition():
            await trio.sleep(0.01)
        return
    pytest.fail(f"waited {WAIT} s for: {what}")


def record(i: int, *, msg_type: str = "detection", uav: int = 3) -> Record:
    """Record number `i`, a detection from `uav` by default."""
    return Record(
        msg_id=f"{uav}-{i}",
        msg_type=msg_type,
        source=f"uav-{uav}",
        destination="command",
        priority=i % 4,
        timestamp=1_750_000_000.0 + i,
        payload={"seq": i, "lat_deg": 52.0 + i / 1e4, "label": "vehicle"},
    )


def uplink_config(broker: MosquittoBroker, **changes: Any) -> MqttConfig:
    """The uplink's config for `broker`: fleet f1, gateway 255, quick reconnects."""
    config = MqttConfig(
        host=HOST,
        port=broker.port,
        fleet=FLEET,
        backoff=Backoff(initial=0.05, maximum=0.5),
        close_timeout=2.0,
    )
    return replace(config, **changes)


class CloudClient:
    """The command center's MQTT client (see the module docstring)."""

    def __init__(self, client: Client, topics: Sequence[str]) -> None:
        self._client = client
        self._topics = topics
        self._lock = threading.Lock()
        self._messages: list[tuple[str, bytes]] = []
        self._subacks = 0
        client.on_connect = self._connected
        client.on_subscribe = self._subscribed
        client.on_message = self._received

    def _connected(
        self,
        client: Client,
        _u: object,
        _f: ConnectFlags,
        code: ReasonCode,
        _p: Properties | None,
    ) -> None:
        if not code.is_failure:
            client.subscribe([(topic, 1) for topic in self._topics])

    def _subscribed(
        self, _c: Client, _u: object, _m: int, _codes: list[ReasonCode], _p: Properties
    ) -> None:
        with self._lock:
            self._subacks += 1

    def _received(self, _c: Client, _u: object, message: MQTTMessage) -> None:
        with self._lock:
            self._messages.append((message.topic, bytes(message.payload)))

    @property
    def subscribed(self) -> bool:
        with self._lock:
            return self._subacks > 0

    def messages(self, prefix: str = "") -> list[tuple[str, bytes]]:
        """(topic, payload) received on topics starting with `prefix`, in arrival order."""
        with self._lock:
            return [(t, p) for t, p in self._messages if t.startswith(prefix)]

    def msg_ids(self) -> Counter[str]:
        """How many times each record msg_id arrived (on the UAV record topics)."""
        return Counter(json.loads(p)["msg_id"] for _, p in self.messages(f"event/{FLEET}/uav/"))

    def last(self, topic: str) -> bytes | None:
        """The latest payload on `topic`, if any."""
        found = [payload for t, payload in self.messages(topic) if t == topic]
        return found[-1] if found else None

    def send(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 (paho queues it while disconnected)."""
        self._client.publish(topic, payload, qos=1)

    def close(self) -> None:
        """Disconnect and join paho's thread (blocking: call through trio.to_thread)."""
        self._client.disconnect()
        self._client.loop_stop()


@asynccontextmanager
async def open_cloud(
    broker: MosquittoBroker,
    topics: Sequence[str] = (f"event/{FLEET}/#",),
    *,
    username: str | None = None,
    password: str | None = None,
) -> AsyncIterator[CloudClient]:
    """A connected, subscribed CloudClient on `broker`'s plain listener."""
    client = Client(
        CallbackAPIVersion.VERSION2, client_id="cloud", clean_session=False, protocol=MQTTv311
    )
    client.reconnect_delay_set(1, 1)
    if username is not None:
        client.username_pw_set(username, password)
    cloud = CloudClient(client, topics)
    client.connect_async(HOST, broker.port)
    client.loop_start()
    try:
        await wait_until(lambda: cloud.subscribed, "the cloud's SUBACK")
        yield cloud
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(cloud.close)
