"""The MQTT uplink against a real Mosquitto on loopback: no mocks, no fixed sleeps.

Every wait is on a condition with a generous limit (`wait_until`); every broker, client
thread and socket is closed by the end of its test.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from companion.outbox import Store
from groundstation.commands import Command, parse_command
from groundstation.records import Record, RecordError
from groundstation.uplink.mqtt import MqttConfig, open_mqtt_uplink
from sitl.mosquitto import MosquittoBroker, make_tls_files
from tests.groundstation.mosquitto import (
    FLEET,
    needs_mosquitto,
    open_cloud,
    record,
    uplink_config,
    wait_until,
)

pytestmark = needs_mosquitto

STATUS = f"event/{FLEET}/gateway/255/status"
COMMANDS = f"event/{FLEET}/commands/255"
GATEWAY_ACKS = f"event/{FLEET}/gateway/255/records/ack"
USERS = {"gs": "right horse battery", "cloud": "staple"}
ACL = """\
user gs
topic write event/f1/uav/+/detection
topic write event/f1/gateway/255/#
topic read event/f1/commands/255

user cloud
topic read event/f1/#
topic write event/f1/commands/#
"""


async def ignore(command: Command) -> None:
    """An on_command for tests that send no commands."""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker") as running:
        yield running


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A broker that wants a password and applies ACL."""
    with MosquittoBroker(tmp_path / "broker", users=USERS, acl=ACL) as running:
        yield running


async def test_300_records_survive_a_broker_restart(
    broker: MosquittoBroker, tmp_path: Path, report: Callable[[str], None]
) -> None:
    records = [record(i) for i in range(300)]
    async with (
        open_cloud(broker, [f"event/{FLEET}/uav/#"]) as cloud,
        open_mqtt_uplink(uplink_config(broker), tmp_path / "up.db", on_command=ignore) as up,
    ):
        for r in records[:50]:
            await up.publish(r)
        await wait_until(lambda: up.stats()["acked"] == 50, "50 PUBACKs")
        broker.pause()  # frozen mid-stream: what is sent from now on is never answered
        for r in records[50:200]:
            await up.publish(r)
        await wait_until(lambda: up.stats()["in_flight"] == 20, "a full window in flight")
        at_stop = up.stats()
        await trio.to_thread.run_sync(broker.stop)  # SIGTERM: it saves its sessions
        await wait_until(lambda: not up.stats()["connected"], "the uplink to see the broker go")
        for r in records[200:]:
            await up.publish(r)  # durable while the broker is down
        await wait_until(lambda: up.stats()["connect_failures"] >= 1, "a refused reconnect")
        await trio.to_thread.run_sync(broker.start)
        await wait_until(lambda: up.stats()["confirmed"] == 300, "300 rows confirmed")
        await wait_until(lambda: len(cloud.msg_ids()) == 300, "300 distinct records at the cloud")
        assert (await up.backlog()).depth == 0
        stats = up.stats()
        counts = cloud.msg_ids()
        first_topic, first_payload = cloud.messages()[0]
    assert set(counts) == {r.msg_id for r in records}  # none missing, after dedupe by msg_id
    assert first_topic == f"event/{FLEET}/uav/3/detection"
    assert Record.from_json(json.loads(first_payload)) in records
    assert at_stop["acked"] == 50
    assert stats["released"] == 20  # in flight when the broker went: published again
    assert stats["published"] == 300
    assert stats["acked"] == stats["confirmed"] == 300
    assert stats["sent"] == 300 + stats["released"]  # each republish follows a release
    assert stats["reconnects"] >= 1
    assert stats["disconnects"] >= 1
    report(
        f"MQTT broker restart mid-stream: 300/300 records, in flight at stop"
        f" {at_stop['in_flight']}, released {stats['released']}, duplicates at the cloud"
        f" {sum(counts.values()) - 300}, connect failures while down"
        f" {stats['connect_failures']}"
    )


async def test_in_flight_records_survive_closing_the_uplink(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    path = tmp_path / "up.db"
    config = uplink_config(broker, inflight_window=10, close_timeout=0.5)
    records = [record(i) for i in range(50)]
    async with open_cloud(broker, [f"event/{FLEET}/uav/#"]) as cloud:
        async with open_mqtt_uplink(config, path, on_command=ignore) as up:
            await wait_until(lambda: up.stats()["connected"] == 1, "CONNACK")
            broker.pause()  # connected, but no PUBACK will come
            for r in records:
                await up.publish(r)
            await wait_until(lambda: up.stats()["in_flight"] > 0, "PUBLISHes in flight")
        first = up.stats()
        assert first["confirmed"] == 0
        assert first["released"] == first["sent"] > 0  # in flight at close: given back
        store = Store.open(path, readonly=True)
        try:
            assert len(store.pending()) == 50  # every record still there, none in flight
        finally:
            store.close()
        broker.resume()
        async with open_mqtt_uplink(config, path, on_command=ignore) as up:
            await wait_until(lambda: up.stats()["confirmed"] == 50, "50 rows confirmed")
            assert (await up.backlog()).depth == 0
        await wait_until(lambda: len(cloud.msg_ids()) == 50, "50 distinct records at the cloud")
    assert set(cloud.msg_ids()) == {r.msg_id for r in records}


async def test_commands_reach_on_command_and_malformed_ones_are_refused(
    broker: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    handled: list[Command] = []

    async def on_command(command: Command) -> None:
        if command.command_id == "explode":
            raise RuntimeError("handler bug")
        handled.append(command)

    def command(command_id: str, uav: int = 3) -> dict[str, object]:
        params = {"action": "rtl"}
        return {"command_id": command_id, "uav": uav, "type": "mission_abort", "params": params}

    malformed = [
        b"not json",
        b"[1, 2]",
        json.dumps(command("bad-uav", uav=0)).encode(),
        b"[" * 5000,  # nesting deeper than the JSON parser's recursion limit
        b"\xff\xfe\x00",
        b" " * (64 * 1024 + 1),  # over max_command_bytes
    ]
    path, config = tmp_path / "up.db", uplink_config(broker)
    caplog.set_level(logging.WARNING, logger="groundstation.uplink.mqtt")
    async with open_cloud(broker) as cloud:
        async with open_mqtt_uplink(config, path, on_command=on_command) as up:
            await wait_until(lambda: cloud.last(STATUS) == b"online", "retained online status")
            cloud.send(COMMANDS, json.dumps(command("c1")).encode())
            for payload in malformed:
                cloud.send(COMMANDS, payload)
            for name in ("c1", "explode", "c2"):  # c1 again: a redelivery
                cloud.send(COMMANDS, json.dumps(command(name)).encode())
            await wait_until(lambda: len(handled) == 2, "commands c1 and c2")
            await wait_until(lambda: len(cloud.messages(GATEWAY_ACKS)) == 7, "7 gateway acks")
            stats = up.stats()
        await wait_until(lambda: cloud.last(STATUS) == b"offline", "retained offline status")
        cloud.send(COMMANDS, json.dumps(command("c3")).encode())  # queued in our session
        async with open_mqtt_uplink(config, path, on_command=on_command) as up:
            await wait_until(lambda: len(handled) == 3, "command c3, sent while we were away")
        outcomes = [json.loads(p)["payload"] for _, p in cloud.messages(GATEWAY_ACKS)]
    assert handled == [parse_command(command(name)) for name in ("c1", "c2", "c3")]
    assert stats["commands"] == 10
    assert stats["malformed_commands"] == len(malformed)
    assert stats["duplicate_commands"] == 1
    assert stats["command_errors"] == 1
    assert sorted(o["outcome_name"] for o in outcomes) == ["failed"] + ["invalid"] * 6
    reasons = ("not_json", "not_object", "invalid", "too_deep", "not_utf8", "oversize")
    assert [stats[f"malformed_{reason}"] for reason in reasons] == [1] * 6
    refused = "malformed command on event/f1/commands/255 refused (1 so far, reason not_json)"
    assert f"{refused}: not JSON" in caplog.text


async def test_password_auth_and_a_wrong_password(secured: MosquittoBroker, tmp_path: Path) -> None:
    path = tmp_path / "up.db"
    wrong = uplink_config(secured, username="gs", password="wrong")
    async with open_mqtt_uplink(wrong, path, on_command=ignore) as up:
        await up.publish(record(0))
        await wait_until(lambda: up.stats()["connect_failures"] >= 2, "two refused connects")
        stats = up.stats()
        error = up.last_connect_error
        assert (await up.backlog()).depth == 1
    assert stats["connects"] == stats["connected"] == stats["sent"] == 0
    assert error == f"MQTT broker 127.0.0.1:{secured.port} refused the connection: Not authorized"
    right = uplink_config(secured, username="gs", password=USERS["gs"])
    async with (
        open_cloud(secured, username="cloud", password=USERS["cloud"]) as cloud,
        open_mqtt_uplink(right, path, on_command=ignore) as up,
    ):
        await wait_until(lambda: up.stats()["confirmed"] == 1, "the record confirmed")
        await wait_until(lambda: cloud.msg_ids() == {"3-0": 1}, "the record at the cloud")
        assert up.stats()["connect_failures"] == 0


async def test_a_record_the_broker_refuses_stays_in_the_outbox(
    secured: MosquittoBroker, tmp_path: Path
) -> None:
    config = uplink_config(secured, username="gs", password=USERS["gs"])
    async with (
        open_cloud(secured, username="cloud", password=USERS["cloud"]) as cloud,
        open_mqtt_uplink(config, tmp_path / "up.db", on_command=ignore) as up,
    ):
        await up.publish(record(0, msg_type="telemetry"))  # the ACL denies telemetry
        await up.publish(record(1))
        await wait_until(lambda: up.stats()["confirmed"] == 1, "the detection confirmed")
        await wait_until(lambda: up.stats()["refused"] == 1, "the telemetry refused")
        backlog = await up.backlog()
        await wait_until(lambda: cloud.msg_ids() == {"3-1": 1}, "the detection at the cloud")
    assert backlog.depth == 1
    assert up.stats()["released"] == 1  # back to pending when the connection closed


async def test_tls_with_a_client_certificate(tmp_path: Path) -> None:
    with MosquittoBroker(tmp_path / "broker", tls=True, require_certificate=True) as broker:
        assert broker.tls is not None
        assert broker.tls_port is not None
        config = uplink_config(
            broker,
            port=broker.tls_port,
            tls=True,
            ca_file=broker.tls.ca_file,
            client_cert=broker.tls.client_cert,
            client_key=broker.tls.client_key,
        )
        stranger = make_tls_files(tmp_path)  # another CA: the broker's certificate fails
        async with open_mqtt_uplink(
            replace(config, ca_file=stranger.ca_file), tmp_path / "up.db", on_command=ignore
        ) as up:
            await wait_until(lambda: up.stats()["connect_failures"] >= 2, "two TLS failures")
            assert "CERTIFICATE_VERIFY_FAILED" in (up.last_connect_error or "")
        gc.collect()  # a socket left open by a failed handshake would warn (an error) here
        async with (
            open_cloud(broker) as cloud,
            open_mqtt_uplink(config, tmp_path / "up.db", on_command=ignore) as up,
        ):
            for i in range(3):
                await up.publish(record(i))
            await wait_until(lambda: up.stats()["confirmed"] == 3, "3 rows confirmed over TLS")
            await wait_until(lambda: len(cloud.msg_ids()) == 3, "3 records at the cloud")


async def test_records_wait_for_a_broker_that_is_not_up_yet(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "broker")  # ports chosen, process not started
    try:
        async with open_mqtt_uplink(
            uplink_config(broker), tmp_path / "up.db", on_command=ignore
        ) as up:
            await up.publish(record(0))
            await wait_until(lambda: up.stats()["connect_failures"] >= 3, "3 failed connects")
            assert up.last_connect_error is not None
            assert "cannot reach MQTT broker" in up.last_connect_error
            assert "ConnectionRefusedError" in up.last_connect_error
            await trio.to_thread.run_sync(broker.start)
            await wait_until(lambda: up.stats()["confirmed"] == 1, "the record confirmed")
    finally:
        broker.close()


async def test_publish_refuses_what_cannot_be_published(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    config = uplink_config(broker, max_record_bytes=1024)
    async with open_mqtt_uplink(config, tmp_path / "up.db", on_command=ignore) as up:
        base = record(0)
        for payload in ({"x": float("nan")}, {"x": b"bytes"}, {"x": "y" * 2000}):
            bad = Record(**(base.to_json() | {"payload": payload}))
            with pytest.raises(RecordError):
                await up.publish(bad)
        assert (await up.backlog()).depth == 0
        assert up.stats()["published"] == 0


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="topic level"):
        MqttConfig(host="h", fleet="a/b")
    with pytest.raises(ValueError, match="1-65535"):
        MqttConfig(host="h", fleet="f", inflight_window=0)
    with pytest.raises(ValueError, match="tls"):
        MqttConfig(host="h", fleet="f", client_cert=Path("c.pem"))
    assert MqttConfig(host="h", fleet="f", gateway=7).client_id == "event-f-7"
