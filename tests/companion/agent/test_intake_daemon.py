"""Hostile datagrams to a running `event-agent` process's real UDP detector port: the
process lives on, counts every datagram (status.json), keeps its memory and its log
bounded, and stores the next good detection (issue 17)."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from companion.agent.config import load_config
from companion.agent.detection import REASONS
from sitl.provisioning import provision_fleet, write_agent_config
from tests.processes import WAIT, free_port, read_status, start_daemon, stop_daemon, until

UAV = 1
BATCH, BATCH_BYTES = 64, 96 * 1024
"""Datagrams (and their bytes plus overhead) sent between two probes: well inside the
socket's default receive buffer, so the kernel drops none and every one is counted."""


@dataclass
class AgentProcess:
    process: subprocess.Popen[bytes]
    port: int
    status_path: Path
    log_path: Path
    sock: socket.socket
    sent: int = 0
    """Lines sent so far (each datagram here is one line, or none: counted as empty)."""
    probes: int = 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, ("127.0.0.1", self.port))
        self.sent += 1

    def probe(self) -> None:
        """A good detection, sent until the agent answers that it is stored: every
        datagram sent before it has been taken by then."""
        self.probes += 1
        track_id = self.probes % 65535 + 1
        taken = 1750000000 + self.probes
        line = json.dumps(
            {"class_id": 1, "confidence": 0.5, "bbox": [1, 2, 3, 4], "track_id": track_id}
            | {"time": taken}
        ).encode()
        stored = {"stored": True, "time": taken * 1000, "track_id": track_id}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(WAIT)
            sock.sendto(line, ("127.0.0.1", self.port))
            self.sent += 1
            try:
                answer = sock.recv(65535)
            except TimeoutError:
                pytest.fail(f"no answer; agent exit status {self.process.poll()}: {self.tail()}")
            assert json.loads(answer) == stored, "the good detection is stored"

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def settled(self) -> dict[str, Any]:
        """status.json once it counts every line sent so far."""

        def counted() -> dict[str, Any] | None:
            status = read_status(self.status_path)
            if status is None:
                return None
            intake = status["intake"]
            done = intake.get("accepted", 0) + intake.get("refused", 0) == self.sent
            return status if done else None

        found: dict[str, Any] = until(counted, f"status.json counting {self.sent} lines")
        return found


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    root = tmp_path_factory.mktemp("intake_daemon")
    files = provision_fleet(root / "fleet", (UAV,))
    port = free_port(socket.SOCK_DGRAM)
    config = write_agent_config(
        files,
        UAV,
        radio=f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        autopilot=f"tcp:127.0.0.1:{free_port(socket.SOCK_STREAM)}",
        detector_port=port,
        status_interval=1.0,
    )
    log_path = root / "agent.log"
    with log_path.open("wb") as log, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        process = start_daemon("companion.agent.cli", config, log)
        sock.bind(("127.0.0.1", 0))
        running = AgentProcess(
            process, port, load_config(config).state_dir / "status.json", log_path, sock
        )
        try:
            until(lambda: "event=started" in log_path.read_text(), "the agent to start")
            yield running
        finally:
            stop_daemon(process)


def with_field(name: str, literal: str) -> bytes:
    good = '{"class_id": 3, "confidence": 0.9, "bbox": [1, 2, 3, 4], "track_id": 7'
    return f'{good}, "{name}": {literal}}}'.encode()


FINDINGS = {
    "deep_brackets": (b"[" * 60000, "too_deep"),
    "class_id_of_5000_digits": (b'{"class_id": ' + b"1" * 5000 + b"}", "number_too_long"),
    "time_1e20": (with_field("time", "1e20"), "out_of_range"),
    "time_1e300": (with_field("time", "1e300"), "out_of_range"),
    "time_infinity": (with_field("time", "Infinity"), "not_finite"),
    "not_utf8": (b"\xff\xfe\x00", "not_utf8"),
}


@pytest.mark.parametrize(("data", "reason"), FINDINGS.values(), ids=FINDINGS.keys())
def test_a_hostile_datagram_is_counted_and_the_next_detection_stored(
    agent: AgentProcess, data: bytes, reason: str
) -> None:
    before = agent.settled()
    agent.send(data)
    agent.probe()
    after = agent.settled()
    assert agent.alive(), agent.tail()
    assert after["intake_refused_by"][reason] == before["intake_refused_by"].get(reason, 0) + 1
    assert after["intake"]["refused"] == before["intake"].get("refused", 0) + 1
    assert after["intake"]["accepted"] == before["intake"].get("accepted", 0) + 1


def hostile(rng: random.Random) -> bytes:
    """One datagram of the fuzz: no newline inside, so each is one line (or none)."""
    kind = rng.randrange(6)
    if kind == 0:
        data = rng.randbytes(rng.randrange(600))
    elif kind == 1:
        data = mutated(rng)
    elif kind == 2:
        opener = rng.choice(["[", '{"a":', '{"meta":['])
        data = (opener * rng.choice([17, 100, 1000, rng.randrange(17, 6000)])).encode()
    elif kind == 3:
        digits = "".join(rng.choices("0123456789", k=rng.randrange(33, 5000)))
        data = with_field(rng.choice(["class_id", "time", "bbox", "meta"]), "1" + digits)
    elif kind == 4:
        literal = rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "1e20", "1e300"])
        data = with_field(rng.choice(["time", "confidence", "class_id", "track_id"]), literal)
    else:
        data = json.dumps({"class_id": rng.random(), "bbox": "x" * rng.randrange(40)}).encode()
    return data.replace(b"\n", b" ")


def mutated(rng: random.Random) -> bytes:
    """A good line with a few bytes replaced, dropped or inserted."""
    data = bytearray(with_field("priority", '"low"'))
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(data))
        data[at : at + rng.randrange(3)] = rng.randbytes(rng.randrange(3))
    return bytes(data)


def test_ten_thousand_hostile_datagrams_leave_the_agent_alive_counted_and_bounded(
    agent: AgentProcess,
) -> None:
    rng = random.Random(17)
    started_at = time.monotonic()
    log_before = len(agent.log_lines())

    def fuzz(count: int) -> None:
        pending = pending_bytes = 0
        for _ in range(count):
            data = hostile(rng)
            agent.send(data)
            pending, pending_bytes = pending + 1, pending_bytes + len(data) + 1024
            if pending >= BATCH or pending_bytes >= BATCH_BYTES:
                agent.probe()
                pending = pending_bytes = 0
        agent.probe()

    fuzz(2000)  # warm-up: the allocator, caches and the log's first lines
    before = agent.settled()
    rss_before = agent.rss_kib()
    sent_before = agent.sent
    fuzz(10_000)
    after = agent.settled()
    rss_after = agent.rss_kib()
    elapsed = time.monotonic() - started_at

    assert agent.alive(), agent.tail()
    intake = after["intake"]
    assert intake["accepted"] + intake["refused"] == agent.sent, "every datagram counted"
    assert sum(after["intake_refused_by"].values()) == intake["refused"]
    assert set(after["intake_refused_by"]) <= set(REASONS) - {"unexpected"}
    assert agent.sent - sent_before >= 10_000
    assert rss_after <= rss_before * 1.2, (rss_before, rss_after)
    new_lines = agent.log_lines()[log_before:]
    refused_lines = [line for line in new_lines if "detection_refused" in line]
    assert len(refused_lines) <= 2 * len(REASONS), refused_lines
    assert len(new_lines) < 200, new_lines[:20]
    print(
        f"fuzz: {agent.sent - sent_before} datagrams after warm-up in {elapsed:.1f} s"
        f" (with warm-up); rss {rss_before} -> {rss_after} KiB; refused by"
        f" {after['intake_refused_by']};"
        f" accepted {intake['accepted'] - before['intake']['accepted']}"
        f" after warm-up; {len(new_lines)} log lines"
    )
