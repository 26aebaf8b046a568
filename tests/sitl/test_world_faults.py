"""Faults on the world process's air, from its plan and its control socket, with real
processes: the world process and three UDP hosts (UAVs 1 and 2, ground station 255)."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sitl.demo.runner import free_base
from sitl.world_faults import FaultError, parse_fault, parse_plan

ORIGIN = (-35.363261, 149.165230, 584.0)
HOMES = {"1": [-35.3628, 149.16523], "2": [-35.3637, 149.16523]}  # ~50 m N and S of the GS
GS = 255
LIMIT = 30.0
"""Seconds any condition may take on a loaded machine."""


T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {LIMIT} s: {what}")


class Host:
    """A node's host: a UDP socket talking to its radio port in the world."""

    def __init__(self, radio_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.radio = ("127.0.0.1", radio_port)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.radio)

    def heard(self) -> list[bytes]:
        frames = []
        with contextlib.suppress(BlockingIOError):
            while True:
                frames.append(self.sock.recv(4096))
        return frames


class WorldRun:
    def __init__(self, process: subprocess.Popen[str], control: socket.socket, stderr: Path):
        self.process, self.stderr = process, stderr
        self._control, self._replies = control, control.makefile("r", encoding="utf-8")

    def close(self) -> None:
        self._replies.close()

    def ask(self, line: str) -> dict[str, Any]:
        self._control.sendall(line.encode() + b"\n")
        reply: dict[str, Any] = json.loads(self._replies.readline())
        return reply

    def fault(self, **fault: Any) -> str:
        reply = self.ask(json.dumps(fault))
        assert reply["ok"], reply
        applied: str = reply["applied"]
        return applied

    def node(self, node: int) -> dict[str, Any]:
        figures: dict[str, Any] = self.ask("status")["nodes"][str(node)]
        return figures

    def until(self, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        last: list[dict[str, Any]] = []

        def probe() -> dict[str, Any] | None:
            last[:] = [self.ask("status")]
            return last[0] if check(last[0]) else None

        try:
            return wait_for(probe, what)
        except AssertionError as error:
            raise AssertionError(f"{error}; last status: {last[0]}") from None


@contextlib.contextmanager
def world_process(tmp_path: Path, faults: list[dict[str, Any]]) -> Iterator[tuple[WorldRun, int]]:
    ports = random.Random()
    radio_base, autopilot_base = free_base(256, ports), free_base(256, ports)
    control = free_base(1, ports)
    config = {
        "origin": list(ORIGIN),
        "homes": HOMES,
        "radio_base": radio_base,
        "autopilot_base": autopilot_base,
        "control_port": control,
        "faults": faults,
    }
    (tmp_path / "world.json").write_text(json.dumps(config), encoding="utf-8")
    argv = [sys.executable, "-m", "sitl.demo.world_process", "--config", "world.json"]
    stderr = tmp_path / "world.err"
    with stderr.open("w") as err:
        process = subprocess.Popen(
            [*argv, "--out", "world.jsonl"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "world ready", stderr.read_text()
        with socket.create_connection(("127.0.0.1", control), timeout=LIMIT) as sock:
            run = WorldRun(process, sock, stderr)
            with contextlib.closing(run):
                yield run, radio_base
    finally:
        process.terminate()
        assert process.wait(timeout=LIMIT) == 0
        if process.stdout is not None:
            process.stdout.close()


def exchange(sender: Host, receiver: Host, what: str) -> None:
    """`sender` sends `what` until `receiver` hears it."""

    def probe() -> bool | None:
        sender.send(what.encode())
        return True if what.encode() in receiver.heard() else None

    wait_for(probe, what)


def hears(host: Host, what: str) -> None:
    """Wait until `host` hears a frame `what` (frames heard meanwhile are dropped)."""
    wait_for(lambda: True if what.encode() in host.heard() else None, f"heard {what!r}")


def delta(world: WorldRun, node: int, key: str) -> Callable[[dict[str, Any]], int]:
    """How much one of `node`'s figures (or lost reason, by name) grew since now."""

    def figure(status: dict[str, Any]) -> int:
        figures = status["nodes"][str(node)]
        value = figures[key] if key in figures else figures["lost"].get(key, 0)
        assert isinstance(value, int)
        return value

    start = figure(world.ask("status"))
    return lambda status: figure(status) - start


@contextlib.contextmanager
def world_with_hosts(tmp_path: Path) -> Iterator[tuple[WorldRun, Host, Host, Host]]:
    """A world process without planned faults and three hosts on its radios: UAVs 1 and
    2 and the ground station, each radio told where its host is."""
    with world_process(tmp_path, []) as (world, base), contextlib.ExitStack() as hosts:
        uav1, uav2, gs = Host(base + 1), Host(base + 2), Host(base + GS)
        for host in (uav1, uav2, gs):
            host.send(b"hello")  # each radio now knows where its host is
            hosts.enter_context(contextlib.closing(host.sock))
        yield world, uav1, uav2, gs


def test_cut_restore_and_partition_at_run_time(tmp_path: Path) -> None:
    with world_with_hosts(tmp_path) as (world, uav1, uav2, gs):
        exchange(uav1, gs, "uav 1 reaches the ground station")
        exchange(gs, uav1, "the ground station reaches uav 1")

        # Cut: the node's frames go nowhere, and frames for it reach it no more. (Counts
        # are at least, not exactly, the frames sent: a ping of the exchanges above may
        # still be on the air.)
        assert world.fault(cut=1) == "cut node 1"
        discarded, missed = delta(world, 1, "frames_discarded"), delta(world, 1, "node_down")
        at_uav2 = delta(world, 2, "frames_received")
        for _ in range(5):
            uav1.send(b"from the cut node")
            gs.send(b"to the cut node")
        world.until(
            lambda s: discarded(s) == 5 and missed(s) >= 5 and at_uav2(s) >= 5,
            "5 frames of the cut node discarded; 5 for it lost at it, heard by uav 2",
        )
        assert b"from the cut node" not in gs.heard()
        assert b"from the cut node" not in uav2.heard()
        assert b"to the cut node" not in uav1.heard()
        assert world.ask("status")["faults"]["down"] == [1]

        # Restore: traffic flows both ways again.
        assert world.fault(restore=1) == "restore node 1"
        exchange(uav1, gs, "uav 1 restored reaches the ground station")
        exchange(gs, uav1, "the ground station reaches uav 1 restored")

        # Partition: uav 1 and 2 on one side, the ground station on the other.
        assert world.fault(partition=[[1, 2], [GS]]) == "partition [1, 2] | [255]"
        parted, at_uav2 = delta(world, GS, "partition"), delta(world, 2, "frames_received")
        for _ in range(5):
            uav1.send(b"partitioned")
        world.until(lambda s: parted(s) >= 5 and at_uav2(s) >= 5, "partition judged 5 frames")
        assert b"partitioned" not in gs.heard()
        assert world.ask("status")["faults"]["partition"] == [[1, 2], [GS]]
        assert world.fault(heal=True) == "heal"
        exchange(uav1, gs, "healed")
        assert world.ask("status")["faults"]["applied"] == {
            "cut": 1,
            "heal": 1,
            "partition": 1,
            "restore": 1,
        }
    log = world.stderr.read_text()
    assert "source=control cut node 1" in log
    assert "source=control partition [1, 2] | [255]" in log


def test_loss_and_moving_the_ground_station_at_run_time(tmp_path: Path) -> None:
    with world_with_hosts(tmp_path) as (world, uav1, uav2, gs):
        exchange(uav1, gs, "uav 1 reaches the ground station")

        # Loss on one node: all of uav 2's frames lost, the ground station unaffected.
        assert world.fault(loss=1.0, node=2) == "loss 1.0 on node 2"
        random_2, at_gs = delta(world, 2, "random"), delta(world, GS, "frames_received")
        for _ in range(5):
            uav1.send(b"lossy at 2")
        world.until(lambda s: random_2(s) >= 5 and at_gs(s) >= 5, "5 lost at uav 2")
        assert b"lossy at 2" not in uav2.heard()
        world.fault(loss=0.0, node=2)

        # Swarm-wide loss of a half: of 40 frames the ground station misses some, not all.
        assert world.fault(loss=0.5) == "loss 0.5 swarm-wide"
        random_gs, at_gs = delta(world, GS, "random"), delta(world, GS, "frames_received")
        for _ in range(40):
            uav1.send(b"half lost")
        status = world.until(lambda s: random_gs(s) + at_gs(s) >= 40, "40 frames judged")
        assert 5 < random_gs(status) < 35
        assert status["faults"]["loss"] == 0.5
        world.fault(loss=0.0)

        # Moving the ground station 5 km away takes it out of everyone's range.
        world.fault(move_ground_station=[5000, 0, 2])
        far = delta(world, GS, "range")
        for _ in range(5):
            uav1.send(b"too far")
        status = world.until(lambda s: far(s) >= 5, "5 frames out of range")
        assert status["links"] == [[1, 2]]
        assert status["faults"]["ground_station"] == [5000.0, 0.0, 2.0]

        assert world.ask('{"cut": 300}') == {
            "ok": False,
            "error": "a node id is an integer 0-255, not 300",
        }
        assert world.ask("status")["faults"]["applied"] == {"loss": 4, "move_ground_station": 1}
    log = world.stderr.read_text()
    assert "source=control move ground station to [5000.0, 0.0, 2.0]" in log


def test_plan_faults_happen_on_time_and_are_logged(tmp_path: Path) -> None:
    plan: list[dict[str, Any]] = [
        {"at": 1.0, "restore": 2},
        {"at": 0, "cut": 2},
        {"at": 0, "loss": 0.25},
    ]
    with world_process(tmp_path, plan) as (world, _):
        status = world.until(lambda s: "restore" in s["faults"]["applied"], "the plan ran")
        assert status["faults"]["applied"] == {"cut": 1, "loss": 1, "restore": 1}
        assert (status["faults"]["down"], status["faults"]["loss"]) == ([], 0.25)
        assert status["t"] >= 1.0
    lines = [line for line in world.stderr.read_text().splitlines() if "fault" in line]
    assert [line.split("source=")[1] for line in lines] == [
        "plan cut node 2",
        "plan loss 0.25 swarm-wide",
        "plan restore node 2",
    ]
    samples = (tmp_path / "world.jsonl").read_text().splitlines()
    assert json.loads(samples[-1])["faults"]["applied"] == {"cut": 1, "loss": 1, "restore": 1}


@pytest.mark.parametrize(
    ("raw", "timed", "error"),
    [
        ({"cut": 1, "restore": 1}, False, "exactly one"),
        ({"cut": True}, False, "node id"),
        ({"cut": 1}, True, "needs 'at'"),
        ({"at": 3, "cut": 1}, False, "has no 'at'"),
        ({"at": -1, "cut": 1}, True, "negative"),
        ({"loss": 1.5}, False, "[0, 1]"),
        ({"loss": 0.1, "nodes": 2}, False, "unknown keys"),
        ({"partition": [[1, 2], [2]]}, False, "overlap"),
        ({"move_ground_station": [1, 2]}, False, "east, north, up"),
        ([], False, "JSON object"),
    ],
)
def test_bad_faults_are_refused(raw: Any, timed: bool, error: str) -> None:
    with pytest.raises(FaultError, match=error.replace("[", r"\[").replace("]", r"\]")):
        parse_fault(raw, timed=timed)


def test_plan_is_ordered_by_time() -> None:
    plan = parse_plan([{"at": 2, "heal": True}, {"at": 1, "cut": 4}, {"at": 1, "restore": 4}])
    assert [fault.describe() for fault in plan] == ["cut node 4", "restore node 4", "heal"]


def test_bad_plan_stops_the_world_process_before_it_starts(tmp_path: Path) -> None:
    config = {"origin": list(ORIGIN), "homes": HOMES, "faults": [{"at": 1, "cut": "x"}]}
    (tmp_path / "world.json").write_text(json.dumps(config), encoding="utf-8")
    argv = ["--config", str(tmp_path / "world.json"), "--out", str(tmp_path / "w.jsonl")]
    done = subprocess.run(
        [sys.executable, "-m", "sitl.demo.world_process", *argv],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )
    assert done.returncode == 2
    assert "a node id is an integer 0-255, not 'x'" in done.stderr
