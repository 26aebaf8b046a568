"""The HTTP uplink: end to end against the reference command center on loopback (outages,
restarts, auth, commands, TLS), and its error branches against httpx.MockTransport.

Real time, small backoff, waits on conditions: the outbox's SQLite worker thread is
outside trio, so under the autojump clock virtual time would race ahead whenever trio
waits for it (and `fail_after` or a batch window would fire early).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from companion.outbox import OutboxFull, Store
from companion.transport.backoff import Backoff
from dialects import event
from groundstation.command_center import CommandCenterServer, Fault
from groundstation.commands import Command, parse_command
from groundstation.records import Record, RecordError, command_outcome_record
from groundstation.uplink import HttpUplink, HttpUplinkConfig, open_http_uplink
from groundstation.uplink.base import outbox_item
from tests.groundstation import GATEWAY_TOKEN, OPERATOR_TOKEN, bearer, running_center

FAST = Backoff(initial=0.01, maximum=0.2)


def config(tmp_path: Path, url: str, **changes: Any) -> HttpUplinkConfig:
    options: dict[str, Any] = {
        "base_url": url,
        "token": GATEWAY_TOKEN,
        "outbox_path": tmp_path / "uplink.db",
        "backoff": FAST,
        "batch_size": 64,
        "batch_wait": 0.05,
        "timeout": 5.0,
        "command_wait": 1.0,
        "first_cursor": 0,
    }
    return HttpUplinkConfig(**{**options, **changes})


def make(i: int, *, priority: int = 1, **payload: Any) -> Record:
    kind = "detection" if priority <= 1 else "telemetry"
    return Record(f"3-{i}", kind, "uav-3", "command", priority, 1_750_000_000.0 + i, payload)


async def until(condition: Callable[[], Awaitable[bool]] | Callable[[], bool]) -> None:
    """Wait (30 s at most) until `condition` holds; it may be sync or async."""
    with trio.fail_after(30):
        while True:
            result = condition()
            if result if isinstance(result, bool) else await result:
                return
            await trio.sleep(0.02)


async def publish_all(uplink: HttpUplink, records: Sequence[Record], producers: int = 8) -> None:
    """Publish from several tasks at once, as the radio side would."""

    async def produce(share: Sequence[Record]) -> None:
        for record in share:
            await uplink.publish(record)

    async with trio.open_nursery() as nursery:
        for k in range(producers):
            nursery.start_soon(produce, records[k::producers])


def drained(uplink: HttpUplink) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await uplink.backlog()).depth == 0

    return check


def stored_ids(center: CommandCenterServer) -> list[str]:
    return [record.msg_id for _, record, _ in center.store.records(limit=10_000)]


# -- end to end, reference command center on loopback ---------------------------------


async def test_500_records_arrive_exactly_once_through_outages(tmp_path: Path) -> None:
    records = [make(i, priority=i % 4, n=i) for i in range(500)]
    with running_center(tmp_path / "cc.db") as center:
        center.faults.set(Fault(mode="status", status=503))
        async with open_http_uplink(config(tmp_path, center.url, timeout=0.5)) as uplink:
            await publish_all(uplink, [*records, *records[:50]])  # 50 given twice
            await until(lambda: center.faults.served["status"] >= 5)
            center.faults.set(Fault(mode="hang", hang=60))
            await until(lambda: center.faults.served["hang"] >= 2)
            center.faults.set(Fault(mode="lose", count=2))  # stored, answer lost
            await until(lambda: center.store.count() == 500)
            await until(drained(uplink))
            stats = uplink.stats()
        ids = stored_ids(center)
    assert sorted(ids) == sorted(r.msg_id for r in records)
    assert stats["published"] == 550
    # Each id left the outbox once: taken by the cloud, or, for the batches whose answer
    # was lost, sent again and answered "duplicates" (the cloud already had them).
    assert stats["confirmed"] + stats["duplicates"] == 500
    assert stats["duplicates"] >= 1
    assert stats["http_5xx"] >= 5
    assert stats["timeouts"] >= 2
    assert stats["connection_errors"] >= 2
    assert stats["retries"] >= 9


async def test_a_restart_with_a_batch_in_flight_loses_nothing(tmp_path: Path) -> None:
    records = [make(i) for i in range(300)]
    with running_center(tmp_path / "cc.db") as center:
        center.faults.set(Fault(mode="hang", hang=60))
        cfg = config(tmp_path, center.url)
        async with open_http_uplink(cfg) as uplink:
            await publish_all(uplink, records)
            await until(lambda: center.faults.served["hang"] >= 1)
        left = Store.open(cfg.outbox_path, readonly=True)
        stats = left.stats(time.time())
        left.close()
        assert stats.depth == 300
        assert stats.in_flight > 0  # closed mid-POST
        center.faults.clear()
        async with open_http_uplink(cfg) as uplink:
            await until(drained(uplink))
            assert uplink.stats()["confirmed"] == 300
        assert sorted(stored_ids(center)) == sorted(r.msg_id for r in records)


async def test_a_refused_token_is_counted_logged_once_and_the_records_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with running_center(tmp_path / "cc.db") as center:
        wrong = config(tmp_path, center.url, token="stolen-or-expired")
        with caplog.at_level(logging.ERROR, logger="groundstation.uplink.http"):
            async with open_http_uplink(wrong) as uplink:
                for i in range(5):
                    await uplink.publish(make(i))
                await until(lambda: uplink.stats()["auth_failures"] >= 3)
                assert (await uplink.backlog()).depth == 5
                assert uplink.stats()["confirmed"] == 0
                assert uplink.stats()["http_4xx"] == uplink.stats()["auth_failures"]
        refusals = [r for r in caplog.records if "refused our token" in r.getMessage()]
        assert len(refusals) == 1
        assert center.store.count() == 0
        async with open_http_uplink(config(tmp_path, center.url)) as uplink:  # token renewed
            await until(drained(uplink))
        assert center.store.count() == 5


async def test_a_full_outbox_pushes_back_on_the_caller(tmp_path: Path) -> None:
    with running_center(tmp_path / "cc.db") as center:
        center.faults.set(Fault(mode="status", status=503))
        cfg = config(tmp_path, center.url, capacity=10)
        async with open_http_uplink(cfg) as uplink:
            for i in range(10):
                await uplink.publish(make(i, priority=0))
            with pytest.raises(OutboxFull):
                await uplink.publish(make(10, priority=1))
            assert uplink.stats()["published"] == 10


async def test_a_command_reaches_on_command_and_its_ack_the_center(tmp_path: Path) -> None:
    received: list[Command] = []
    uplinks: list[HttpUplink] = []

    async def on_command(command: Command) -> None:
        received.append(command)
        ack = command_outcome_record(command.command_id, command.uav, event.EVENT_OUTCOME_ACCEPTED)
        await uplinks[-1].publish(ack)

    def body(command_id: str) -> dict[str, Any]:
        params = {"lat": 47.4, "lon": 8.5, "alt": 40, "track_id": 12}
        return {"command_id": command_id, "uav": 3, "type": "retask", "params": params}

    def status(command_id: str) -> str:
        return {c.body["command_id"]: c.status for c in center.store.commands()}[command_id]

    with running_center(tmp_path / "cc.db") as center:
        cfg = config(tmp_path, center.url, first_cursor=None)
        async with httpx.AsyncClient(base_url=center.url, headers=bearer(OPERATOR_TOKEN)) as ops:
            assert (await ops.post("/api/commands", json=body("history"))).status_code == 201
            async with open_http_uplink(cfg, on_command) as uplink:
                uplinks.append(uplink)
                await until(lambda: uplink.stats()["command_polls"] >= 2)  # cursor known
                assert (await ops.post("/api/commands", json=body("op-2"))).status_code == 201
                await until(lambda: status("op-2") == "accepted")
            assert received == [parse_command(body("op-2"))]  # history is not replayed
            acks = [r for _, r, _ in center.store.records() if r.msg_type == "ack"]
            assert [(a.msg_id, a.source) for a in acks] == [("cmd-op-2-accepted", "uav-3")]
            await ops.post("/api/commands", json=body("op-3"))
            async with open_http_uplink(cfg, on_command) as uplink:  # restart: cursor kept
                uplinks.append(uplink)
                await until(lambda: status("op-3") == "accepted")
                assert uplink.stats()["commands"] == 1
        assert [c.command_id for c in received] == ["op-2", "op-3"]


async def test_bad_stale_and_failing_commands_are_refused_back_to_the_center(
    tmp_path: Path,
) -> None:
    received: list[str] = []

    async def on_command(command: Command) -> None:
        if command.command_id == "boom":
            raise RuntimeError("adapter bug")
        received.append(command.command_id)

    def abort(command_id: str) -> dict[str, Any]:
        return {"command_id": command_id, "uav": 3, "type": "mission_abort",
                "params": {"action": "rtl"}}  # fmt: skip

    with running_center(tmp_path / "cc.db") as center:
        now = time.time()
        center.store.queue({**abort("bad-1"), "uav": 0}, now, "test")  # cursor 1
        center.store.queue({"type": "warp", "params": []}, now, "test")  # cursor 2, no id
        center.store.queue(abort("stale"), now - 3600, "test")
        center.store.queue(abort("boom"), now, "test")
        center.store.queue(abort("good"), now, "test")
        async with open_http_uplink(config(tmp_path, center.url), on_command) as uplink:
            await until(lambda: len(center.store.records()) == 4)
            stats = uplink.stats()
        statuses = {c.cursor: c.status for c in center.store.commands()}
        acks = {r.msg_id: r.payload for _, r, _ in center.store.records()}
    assert received == ["good"]
    assert (stats["malformed_commands"], stats["expired_commands"]) == (2, 1)
    assert (stats["command_errors"], stats["commands"]) == (1, 2)
    assert set(acks) == {"cmd-bad-1-invalid", "cmd-cursor2-invalid", "cmd-stale-expired",
                         "cmd-boom-failed"}  # fmt: skip
    assert "uav" in acks["cmd-bad-1-invalid"]["reason"]
    assert acks["cmd-cursor2-invalid"]["command_id"] is None
    assert statuses == {1: "invalid", 2: "invalid", 3: "expired", 4: "failed", 5: "delivered"}


async def test_a_command_s_age_is_the_center_s_measure_not_a_clock_comparison(
    tmp_path: Path,
) -> None:
    """The ground station's clock is an hour behind the center's: the center's own `age`
    still expires what waited too long, and carries the wait of what did not."""
    received: list[Command] = []

    async def on_command(command: Command) -> None:
        received.append(command)

    def abort(command_id: str) -> dict[str, Any]:
        return {"command_id": command_id, "uav": 3, "type": "mission_abort",
                "params": {"action": "rtl"}}  # fmt: skip

    def behind() -> float:
        return time.time() - 3600

    with running_center(tmp_path / "cc.db") as center:
        now = time.time()
        center.store.queue(abort("waited"), now - 20, "test")
        center.store.queue(abort("stale"), now - 400, "test")
        cfg = config(tmp_path, center.url)
        async with open_http_uplink(cfg, on_command, clock=behind) as uplink:
            await until(lambda: len(received) == 1)
            await until(lambda: len(center.store.records()) == 1)  # the stale one's EXPIRED
    assert [c.command_id for c in received] == ["waited"]
    assert received[0].waited == pytest.approx(20, abs=5)
    assert uplink.stats()["expired_commands"] == 1


async def test_a_damaged_cursor_file_is_refused_at_open(tmp_path: Path) -> None:
    cfg = config(tmp_path, "http://127.0.0.1:9")
    cfg.cursor_file.write_text("{not json")
    with pytest.raises(OSError, match="cursor file"):
        async with open_http_uplink(cfg):
            pass


def _certificates(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A CA and a certificate for 127.0.0.1 signed by it: (server context, CA file)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test fleet CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return server, tmp_path / "ca.pem"


async def test_tls_is_verified_against_the_given_ca_only(tmp_path: Path) -> None:
    server_tls, ca_file = _certificates(tmp_path)
    with running_center(tmp_path / "cc.db", tls=server_tls) as center:
        assert center.url.startswith("https://")
        untrusted = config(tmp_path, center.url, outbox_path=tmp_path / "other.db")
        async with open_http_uplink(untrusted) as uplink:
            await uplink.publish(make(1))
            await until(lambda: uplink.stats()["connection_errors"] >= 2)
        assert center.store.count() == 0
        async with open_http_uplink(config(tmp_path, center.url, ca_file=ca_file)) as uplink:
            await uplink.publish(make(2))
            await until(drained(uplink))
        assert stored_ids(center) == ["3-2"]


async def test_telemetry_waits_for_company_and_urgent_records_do_not(tmp_path: Path) -> None:
    with running_center(tmp_path / "cc.db") as center:
        async with open_http_uplink(config(tmp_path, center.url, batch_wait=0.5)) as uplink:
            started = time.monotonic()
            await uplink.publish(make(1, priority=2))
            await until(drained(uplink))
            assert time.monotonic() - started >= 0.5
            assert uplink.stats()["batches"] == 1
        slow = config(tmp_path, center.url, batch_wait=600)
        async with open_http_uplink(slow) as uplink:  # a detection does not wait 10 minutes
            await uplink.publish(make(2, priority=2))
            await uplink.publish(make(3, priority=1))
            await until(drained(uplink))
            assert uplink.stats()["batches"] == 1  # the telemetry went along
        assert sorted(stored_ids(center)) == ["3-1", "3-2", "3-3"]


# -- error branches, against httpx.MockTransport (a named double of the cloud) ---------


class MockCloud:
    """A double of the cloud's POST /api/messages: `decide(ids)` picks each answer."""

    def __init__(self, decide: Callable[[list[str]], httpx.Response | None]) -> None:
        self.decide = decide
        self.batches: list[list[str]] = []
        self.times: list[float] = []
        self.accepted: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        ids = [m["msg_id"] for m in json.loads(request.content)["messages"]]
        self.batches.append(ids)
        self.times.append(trio.current_time())
        answer = self.decide(ids)
        if answer is not None:
            return answer
        new = [i for i in ids if i not in self.accepted]
        self.accepted.update(ids)
        return httpx.Response(
            200, json={"accepted": new, "duplicates": [i for i in ids if i not in new]}
        )

    def uplink(self, tmp_path: Path, **changes: Any) -> Any:
        cfg = config(tmp_path, "https://cloud.invalid", **changes)
        return open_http_uplink(cfg, transport=httpx.MockTransport(self))


async def quarantined(uplink: HttpUplink) -> int:
    return (await uplink.backlog()).quarantined


@pytest.mark.parametrize("names_it", [True, False])
async def test_a_refused_record_is_quarantined_and_the_rest_delivered(
    tmp_path: Path, names_it: bool
) -> None:
    def decide(ids: list[str]) -> httpx.Response | None:
        if "3-4" not in ids:
            return None
        rejected = [{"index": ids.index("3-4"), "msg_id": "3-4", "error": "no"}] if names_it else []
        return httpx.Response(422, json={"error": "bad", "rejected": rejected})

    cloud = MockCloud(decide)
    async with cloud.uplink(tmp_path) as uplink:
        await publish_all(uplink, [make(i) for i in range(10)])
        await until(drained(uplink))
        assert await quarantined(uplink) == 1
        stats = uplink.stats()
    assert cloud.accepted == {f"3-{i}" for i in range(10)} - {"3-4"}
    assert stats["rejected"] == 1
    assert stats["confirmed"] == 9
    assert (stats["splits"] > 0) is not names_it


async def test_413_splits_batches_and_sets_aside_one_too_large(tmp_path: Path) -> None:
    def decide(ids: list[str]) -> httpx.Response | None:
        too_big = len(ids) > 4 or "3-0" in ids
        return httpx.Response(413, json={"error": "too large"}) if too_big else None

    cloud = MockCloud(decide)
    # MEDIUM records wait for a full batch of 8 (the window never runs out), published in
    # order: the first batch is 3-0..3-7 however the sender and the outbox's commits race.
    async with cloud.uplink(tmp_path, batch_size=8, batch_wait=30.0) as uplink:
        for i in range(20):
            await uplink.publish(make(i, priority=2))
        await until(drained(uplink))
        stats = uplink.stats()
        assert await quarantined(uplink) == 1
    assert cloud.batches[0] == [f"3-{i}" for i in range(8)]
    assert cloud.accepted == {f"3-{i}" for i in range(1, 20)}
    assert stats["too_large"] == 1
    assert stats["splits"] >= 3
    assert max(len(b) for b in cloud.batches[-3:]) <= 4  # later batches stay small


async def test_unusable_answers_keep_the_records(tmp_path: Path) -> None:
    answers = iter(
        [
            httpx.Response(400, json={"error": "who are you?"}),  # names nothing: keep
            httpx.Response(200, content=b"<html>welcome</html>"),
            httpx.Response(200, json={"accepted": "all"}),
            httpx.Response(404),
        ]
    )
    cloud = MockCloud(lambda ids: next(answers, None))
    async with cloud.uplink(tmp_path) as uplink:
        await publish_all(uplink, [make(i) for i in range(3)])
        await until(drained(uplink))
        stats = uplink.stats()
        assert await quarantined(uplink) == 0
    assert (stats["http_4xx"], stats["bad_responses"], stats["confirmed"]) == (2, 2, 3), (
        cloud.batches,
        stats,
    )


async def test_a_partial_answer_sends_the_rest_again(tmp_path: Path) -> None:
    def decide(ids: list[str]) -> httpx.Response | None:
        if len(cloud.batches) == 1:  # the first answer leaves out its last record
            cloud.accepted.update(ids[:-1])
            return httpx.Response(200, json={"accepted": ids[:-1], "duplicates": []})
        return None

    cloud = MockCloud(decide)
    async with cloud.uplink(tmp_path) as uplink:
        await publish_all(uplink, [make(i) for i in range(4)], producers=1)
        await until(drained(uplink))
        assert uplink.stats()["bad_responses"] == 1
    left_out = cloud.batches[0][-1]
    assert sum(batch.count(left_out) for batch in cloud.batches) == 2
    assert cloud.accepted == {f"3-{i}" for i in range(4)}


async def test_an_answer_nested_past_the_recursion_limit_is_a_bad_response(
    tmp_path: Path,
) -> None:
    deep = iter([httpx.Response(200, content=b"[" * 5000)])
    cloud = MockCloud(lambda ids: next(deep, None))
    async with cloud.uplink(tmp_path) as uplink:
        await publish_all(uplink, [make(i) for i in range(3)])
        await until(drained(uplink))
        assert uplink.stats()["bad_responses"] == 1
    assert cloud.accepted == {f"3-{i}" for i in range(3)}


async def test_retry_after_is_honoured(tmp_path: Path) -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "1"})])
    cloud = MockCloud(lambda ids: next(answers, None))
    async with cloud.uplink(tmp_path, backoff=Backoff(initial=0.01, maximum=60)) as uplink:
        await uplink.publish(make(1))
        await until(drained(uplink))
    assert len(cloud.times) == 2
    assert cloud.times[1] - cloud.times[0] >= 1  # not the 0.01 s of the backoff


def test_a_record_that_is_not_plain_json_is_refused_before_storing() -> None:
    with pytest.raises(RecordError, match="not plain JSON"):
        outbox_item(make(1, value=float("nan")), 0.0)
