"""The figures of a scenario run: delivery of ACK-required messages by priority, latency
percentiles, control overhead as a share of airtime, and what expired or was evicted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from companion.reliability.priority import TTL, Priority

from .radio import RadioConfig
from .swarm import Swarm

if TYPE_CHECKING:
    from .dark import DarkFigures

PRIORITY_NAMES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
FRAME_TIME = (280 + RadioConfig().overhead_bytes) * 8 / RadioConfig().air_rate
"""Airtime of the largest MAVLink 2 frame, with SiK framing."""


@dataclass(frozen=True)
class Report:
    name: str
    duration: float
    delivered: dict[str, tuple[int, int]]
    """Priority name -> (delivered to the application once, sent)."""
    latencies: list[float]
    duplicates: int
    control_share: float
    handshake_share: float
    utilisation: float
    expired: int
    evicted: int
    repair: float | None = None
    """Seconds from a relay's failure to the far node routing around it, if measured."""
    critical_wait: float = 0.0
    """Longest any CRITICAL frame waited in a node's queue for the radio."""
    critical_behind_lower: int = 0
    """Most lower-priority frames a node sent while one of its CRITICAL frames waited."""
    after_outage: tuple[int, int, bool] | None = None
    """(delivered, still alive a minute after the outage ended, each sender's buffered
    messages arrived in priority order)."""
    dark: DarkFigures | None = None
    """What the dark scenario made, delivered, expired (`sitl/dark.py`)."""

    def lines(self) -> list[str]:
        out = [f"scenario {self.name}: {self.duration / 60:.0f} min of flight"]
        for priority, (got, sent) in self.delivered.items():
            out.append(f"  {priority:<8} delivered {got}/{sent} = {100 * got / sent:.2f} %")
        if self.latencies:
            by_time = sorted(self.latencies)
            p = [by_time[min(len(by_time) - 1, int(q * len(by_time)))] for q in (0.5, 0.9, 0.99)]
            out.append(f"  latency p50 {p[0]:.2f} s, p90 {p[1]:.2f} s, p99 {p[2]:.2f} s")
        out.append(
            f"  airtime: channel busy {100 * self.utilisation:.1f} %, mesh control "
            f"{100 * self.control_share:.2f} %, handshakes {100 * self.handshake_share:.2f} %"
        )
        out.append(
            f"  duplicates to the application {self.duplicates}, expired {self.expired}, "
            f"evicted {self.evicted}"
        )
        if self.after_outage is not None:
            got, alive, ordered = self.after_outage
            out.append(
                f"  after the outage: {got}/{alive} of the messages still alive delivered, "
                f"{'in' if ordered else 'NOT in'} priority order per sender"
            )
        if self.dark is not None:
            out.extend(self.dark.lines())
        if self.repair is not None:
            out.append(f"  route repair after the relay failed: {self.repair:.2f} s")
        out.append(
            f"  CRITICAL frames: {self.critical_behind_lower} lower-priority frames sent "
            f"while one waited; longest wait {1000 * self.critical_wait:.1f} ms = the frame "
            f"already on its way ({1000 * FRAME_TIME:.1f} ms at most) + channel access"
        )
        return out


def outage_figures(
    swarm: Swarm, arrived: Counter[tuple[int, int, int]], ended: float
) -> tuple[int, int, bool]:
    """How the buffered traffic fared once an outage ended at `ended`."""
    alive = [k for k, (t, p) in swarm.sent.items() if t + TTL[Priority(p)] > ended + 60]
    ordered = True
    for runtime in swarm.nodes.values():
        by_sender: dict[int, list[int]] = {}
        for a in runtime.stack.arrived:
            if a.at > ended:
                by_sender.setdefault(a.src, []).append(a.priority)
        ordered = ordered and all(levels == sorted(levels) for levels in by_sender.values())
    return sum(1 for k in alive if arrived[k]), len(alive), ordered


def report(
    name: str,
    swarm: Swarm,
    duration: float,
    repair: float | None = None,
    outage_ended: float | None = None,
    dark: DarkFigures | None = None,
) -> Report:
    arrived: Counter[tuple[int, int, int]] = Counter()
    latencies = []
    for dst, runtime in swarm.nodes.items():
        for a in runtime.stack.arrived:
            head = a.messages[0]
            key = (a.src, dst, getattr(head, "seq", 0))
            if key in swarm.sent:
                arrived[key] += 1
                latencies.append(a.at - swarm.sent[key][0])
    delivered = {}
    for level, label in enumerate(PRIORITY_NAMES):
        keys = [k for k, (_, p) in swarm.sent.items() if p == level]
        if keys:
            delivered[label] = (sum(1 for k in keys if arrived[k]), len(keys))
    total = swarm.medium.total()
    elapsed = trio.current_time()
    stacks = [r.stack for r in swarm.nodes.values()]
    return Report(
        name=name,
        duration=duration,
        delivered=delivered,
        latencies=latencies,
        duplicates=sum(n - 1 for n in arrived.values() if n > 1),
        control_share=total.airtime_by_kind.get("control", 0.0) / elapsed,
        handshake_share=total.airtime_by_kind.get("handshake", 0.0) / elapsed,
        utilisation=swarm.medium.utilisation(),
        expired=sum(
            s.reliable.counters["expired"]
            + s.forwarder.counters["expired"]
            + s.scheduler.counters["expired"]
            for s in stacks
        ),
        repair=repair,
        dark=dark,
        after_outage=None if outage_ended is None else outage_figures(swarm, arrived, outage_ended),
        critical_wait=max(s.critical_wait for s in stacks),
        critical_behind_lower=max(s.critical_behind_lower for s in stacks),
        evicted=sum(
            s.forwarder.counters["store_evicted"] + s.scheduler.counters["evicted"] for s in stacks
        ),
    )
