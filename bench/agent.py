"""Agent benchmark: the latency the agent adds from detector input to radio frame, and the
CPU it uses at the default telemetry rate.

Set-up, all on loopback, all real parts:
- a fleet of one UAV and the ground station, provisioned fresh in a temporary directory
  by sitl/provisioning.py (authority, key bundles, link key) as an operator would;
- the agent runs as its own process, the `event-agent` daemon (`python -m
  companion.agent.cli --config ...`), with the configuration sitl/provisioning.py writes:
  endpoints and paths, every other setting at the agent's default (telemetry every 2 s,
  status every 10 s, a tlog), its durable outbox (SQLite WAL, synchronous=FULL: one
  fsync per commit) in its state directory;
- this process plays the rest of the world: the vehicle double (sitl/vehicle, a test
  double of ArduCopter, not an autopilot) at rest on TCP as SITL serves port 5760; the
  ground station's node stack (`NodeStack` as gateway under `StackRuntime`, the fleet's
  ground station keys) at the other end of the agent's UDP radio; and the detector,
  sending JSON lines on UDP as examples/detector_client.py does.

Measures:
- latency: from just before a detection's JSON line is sent to the agent's intake to the
  kernel's arrival stamp (SO_TIMESTAMPNS) of the radio datagram from which the ground
  stack opened that detection. The detection is recognised by its track id after the
  ground has verified the link signature and opened the seal, so it is the first frame
  that really carried it; the kernel stamp keeps this process's own scheduling out of
  the figure. The path measured: intake parse, position stamp, outbox commit (fsync), the
  pump's hand-over, reliability, seal, link signature, scheduler, UDP send. Detections go
  one per datagram at a steady rate. A first one, not counted, waits for the route to the
  gateway and the session handshake.
- CPU: the agent process's user and system time, all threads (its CPU-time clock), over a
  fixed wall-clock window after that first detection, with no detections: the agent
  follows the double's MAVLink stream, reports telemetry and status, and keeps the mesh
  (hellos) alive. Percent of one core.

Linux only (the process CPU clock, SO_TIMESTAMPNS), like the companion computers it runs
on. The detector port is picked free and handed to the agent (its config takes no port 0):
in the instant between, another process could take it, and the run would fail, not
mislead.
"""

from __future__ import annotations

import json
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import trio

from bench.table import Row, render
from companion.agent.config import load_config
from companion.node import Arrived, NodeStack
from companion.runtime import StackRuntime
from companion.security.keystore import load_node_keys
from dialects import event
from sitl.provisioning import provision_fleet, write_agent_config
from sitl.vehicle.double import VehicleDouble
from sitl.vehicle.serve import serve_tcp

ROOT = Path(__file__).resolve().parents[1]
UAV, GROUND = 1, 255
MAX_DATAGRAM = 65535
SO_TIMESTAMPNS = 35
"""Linux <asm-generic/socket.h> (x86, ARM, RISC-V); Python's socket module lacks the name.
Each datagram then carries its arrival time (CLOCK_REALTIME, ns) as ancillary data."""
TIMESPEC = struct.Struct("@ll")
"""struct timespec as SCM_TIMESTAMPNS delivers it: two C longs, seconds and nanoseconds."""
START_LIMIT = 30.0
"""Seconds for the agent to start, reach the gateway and deliver its first detection."""
ARRIVAL_LIMIT = 30.0
"""Seconds after the last detection is sent for all of them to reach the ground."""


@dataclass(frozen=True, slots=True)
class Plan:
    cpu_window: float
    """Seconds of wall time over which the idle agent's CPU time is taken."""
    detections: int
    rate: float
    """Detections sent per second."""


FULL = Plan(cpu_window=20.0, detections=250, rate=10.0)
QUICK = Plan(cpu_window=3.0, detections=20, rate=10.0)


@dataclass(frozen=True, slots=True)
class Figures:
    latencies_ms: list[float]
    cpu_percent: float
    telemetry_interval: float
    status_interval: float


class AgentBenchError(RuntimeError):
    """The agent did not do what the measurement needs; the message quotes its log."""


class StampingRadio:
    """The ground end of the agent's UDP radio, a `Transport`: `receive` keeps the kernel's
    arrival time of the datagram it returns in `arrived`; `send` answers whoever spoke
    last, as `UdpServerTransport` (udpin) does."""

    is_datagram = True

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self._sock = sock
        self._peer: Any = None
        self.arrived = 0.0
        """Unix time at which the kernel received the datagram last returned."""

    @property
    def port(self) -> int:
        port: int = self._sock.getsockname()[1]
        return port

    async def send(self, data: bytes) -> None:
        if self._peer is None:
            await trio.lowlevel.checkpoint()  # nobody spoke yet: nowhere to answer
            return
        await self._sock.sendto(data, self._peer)

    async def receive(self) -> bytes:
        data, ancillary, _flags, self._peer = await self._sock.recvmsg(
            MAX_DATAGRAM, socket.CMSG_SPACE(TIMESPEC.size)
        )
        self.arrived = _kernel_stamp(ancillary)
        return data

    async def aclose(self) -> None:
        self._sock.close()
        await trio.lowlevel.checkpoint()


def _kernel_stamp(ancillary: list[tuple[int, int, bytes]]) -> float:
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            seconds, nanos = TIMESPEC.unpack(value)
            return int(seconds) + int(nanos) / 1e9
    raise AgentBenchError("the kernel gave no arrival stamp (SO_TIMESTAMPNS) for a datagram")


@asynccontextmanager
async def open_stamping_radio() -> AsyncIterator[StampingRadio]:
    """A `StampingRadio` on a free loopback port, closed on leaving."""
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        await sock.bind(("127.0.0.1", 0))
        yield StampingRadio(sock)


class GroundEnd:
    """What the ground stack delivers: each detection's latency, by track id."""

    def __init__(self, radio: StampingRadio) -> None:
        self.radio = radio
        self.sent: dict[int, float] = {}
        """Track id -> Unix time just before its JSON line was sent."""
        self.latency: dict[int, float] = {}
        """Track id -> seconds from sending to the arrival of the frame that carried it."""

    def on_arrival(self, arrived: Arrived) -> None:
        # Called by the runtime right after the datagram that completed the message was
        # fed in, before the next receive: `radio.arrived` is that datagram's stamp.
        head = arrived.messages[0]
        if head.get_msgId() != event.MAVLINK_MSG_ID_EVENT_DETECTION:
            return
        sent = self.sent.get(head.track_id)
        if sent is not None and head.track_id not in self.latency:
            self.latency[head.track_id] = self.radio.arrived - sent


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid`: all its threads, living and exited.

    Read from the process's CPU-time clock, the clock id clock_getcpuclockid(3) gives,
    which Python does not wrap: Linux encodes it as (~pid << 3) | CPUCLOCK_SCHED (2)
    (include/linux/posix-timers.h). Nanosecond resolution, where /proc/<pid>/stat counts
    10 ms ticks, too coarse for an idle agent over a few seconds.
    """
    return time.clock_gettime((~pid << 3) | 2)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_until(ready: Callable[[], bool], limit: float, what: str, log: Path) -> None:
    """Poll `ready()` for up to `limit` seconds; fail quoting the agent's log."""
    with trio.move_on_after(limit):
        while not ready():
            await trio.sleep(0.02)
        return
    tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
    raise AgentBenchError(f"{what} within {limit:g} s; the agent's log ends:\n" + "\n".join(tail))


class Detector:
    """The onboard detector: one JSON line per datagram to the agent's intake."""

    def __init__(self, sock: trio.socket.SocketType, port: int, ground: GroundEnd) -> None:
        self.sock, self.port, self.ground = sock, port, ground

    async def send(self, track_id: int) -> None:
        line = {
            "class_id": 3,
            "confidence": 0.87,
            "bbox": [120, 88, 64, 40],
            "track_id": track_id,
            "time": time.time(),
        }
        data = json.dumps(line).encode() + b"\n"
        self.ground.sent[track_id] = time.time()
        await self.sock.sendto(data, ("127.0.0.1", self.port))


async def measure(plan: Plan) -> Figures:
    with tempfile.TemporaryDirectory(prefix="event-bench-agent-") as name:
        base = Path(name)
        files = provision_fleet(base / "fleet", (UAV,), ground_station=GROUND, name="bench")
        log = base / "agent.log"
        with log.open("wb") as log_file:
            async with open_stamping_radio() as radio, trio.open_nursery() as nursery:
                double = VehicleDouble(system_id=UAV, ready_after=0.0)
                double_port = await nursery.start(serve_tcp, double, 0)
                port = free_udp_port()
                config = write_agent_config(
                    files,
                    UAV,
                    radio=f"udp:127.0.0.1:{radio.port}",
                    autopilot=f"tcp:127.0.0.1:{double_port}",
                    detector_port=port,
                )
                settings = load_config(config)
                ground = GroundEnd(radio)
                stack = NodeStack(
                    load_node_keys(files.keys(GROUND)), settings.link_key, gateway=True
                )
                runtime = StackRuntime(stack, radio, on_arrival=ground.on_arrival)
                nursery.start_soon(runtime.run)
                command = [sys.executable, "-m", "companion.agent.cli", "--config", str(config)]
                run = partial(trio.run_process, command, stderr=log_file, check=False, cwd=ROOT)
                agent: trio.Process = await nursery.start(run)

                def started() -> bool:
                    return b"event=started" in log.read_bytes()

                await wait_until(started, START_LIMIT, "the agent did not start", log)
                sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
                with sock:
                    detector = Detector(sock, port, ground)
                    await detector.send(0)
                    what = "the first detection did not reach the ground"
                    await wait_until(lambda: 0 in ground.latency, START_LIMIT, what, log)
                    cpu = await cpu_share(agent.pid, plan.cpu_window)
                    latencies = await latency_run(detector, plan, log)
                nursery.cancel_scope.cancel()  # the agent gets SIGTERM and shuts down
        return Figures(latencies, cpu, settings.telemetry_interval, settings.status_interval)


async def cpu_share(pid: int, window: float) -> float:
    """Percent of one core the process used over `window` seconds of wall time."""
    cpu, wall = cpu_seconds(pid), time.monotonic()
    await trio.sleep(window)
    return (cpu_seconds(pid) - cpu) / (time.monotonic() - wall) * 100


async def latency_run(detector: Detector, plan: Plan, log: Path) -> list[float]:
    """Send `plan.detections` at `plan.rate`; each one's latency in ms, in sending order."""
    tracks = range(1, plan.detections + 1)
    start = trio.current_time()
    for index, track_id in enumerate(tracks):
        await trio.sleep_until(start + index / plan.rate)
        await detector.send(track_id)
    latency = detector.ground.latency

    def all_arrived() -> bool:
        return all(t in latency for t in tracks)

    what = f"not all {plan.detections} detections reached the ground"
    await wait_until(all_arrived, ARRIVAL_LIMIT, what, log)
    return [latency[t] * 1000 for t in tracks]


def rows(*, quick: bool = False) -> list[Row]:
    """Run the agent once and measure it: latency p50 and p99, then idle CPU."""
    plan = QUICK if quick else FULL
    figures = trio.run(measure, plan)
    cuts = statistics.quantiles(figures.latencies_ms, n=100, method="inclusive")
    sent = f"{plan.detections} detections at {plan.rate:g}/s; outbox fsync included"
    idle = (
        f"{plan.cpu_window:g} s idle; telemetry every {figures.telemetry_interval:g} s, "
        f"status every {figures.status_interval:g} s"
    )

    def row(metric: str, value: float, unit: str, note: str) -> Row:
        return Row("agent", metric, value, unit, higher_is_better=False, note=note)

    return [
        row("detector->radio latency p50", cuts[49], "ms", sent),
        row("detector->radio latency p99", cuts[98], "ms", sent),
        row("CPU at default telemetry rate", figures.cpu_percent, "% of a core", idle),
    ]


if __name__ == "__main__":
    print(render(rows()))
