"""The live view of a demo run: a fleet table and the latest events, redrawn each second.

Rules:
- On a terminal the view redraws in place (ANSI clear); elsewhere (CI, a pipe) it prints
  one progress line every `quiet_every` seconds instead, so logs stay readable.
- It reads only what the run already has: the world's latest sample (truth), the ground
  station's status.json (what the station believes), and the run's event log.
"""

from __future__ import annotations

import sys
from collections import deque
from typing import Any, TextIO

CLEAR = "\x1b[H\x1b[2J"


class LiveView:
    def __init__(self, out: TextIO = sys.stdout, *, quiet_every: float = 15.0) -> None:
        self.out = out
        self.tty = out.isatty()
        self.quiet_every = quiet_every
        self.recent: deque[str] = deque(maxlen=8)
        self._last_quiet = -quiet_every

    def event(self, elapsed: float, text: str) -> None:
        line = f"{elapsed:6.1f}s  {text}"
        self.recent.append(line)
        if not self.tty:
            print(line, file=self.out, flush=True)

    def draw(self, elapsed: float, world: dict[str, Any] | None, station: dict[str, Any]) -> None:
        if self.tty:
            self.out.write(CLEAR + self.render(elapsed, world, station) + "\n")
            self.out.flush()
        elif elapsed - self._last_quiet >= self.quiet_every:
            self._last_quiet = elapsed
            print(self.progress(elapsed, world, station), file=self.out, flush=True)

    def progress(
        self, elapsed: float, world: dict[str, Any] | None, station: dict[str, Any]
    ) -> str:
        vehicles = (world or {}).get("vehicles", {})
        modes = " ".join(f"{node}:{v['mode']}" for node, v in sorted(vehicles.items()))
        air = (world or {}).get("air", {})
        return (
            f"{elapsed:6.1f}s  modes {modes or '-'}  uplink backlog "
            f"{station.get('uplink_backlog', '-')}  air {air.get('utilisation', 0.0):.0%}"
        )

    def render(self, elapsed: float, world: dict[str, Any] | None, station: dict[str, Any]) -> str:
        rows = {row["node"]: row for row in station.get("fleet", [])}
        vehicles = (world or {}).get("vehicles", {})
        lines = [
            f"EVENT swarm demo  t={elapsed:5.1f}s   ground station: uplink backlog "
            f"{station.get('uplink_backlog', '-')}, radio outbox "
            f"{station.get('radio_outbox_depth', '-')}",
            "",
            f"{'uav':>3} {'mode':<8} {'armed':<5} {'x m':>7} {'y m':>7} {'alt':>5} "
            f"{'batt':>4} {'route':<10} {'queue':>5} {'det':>4} {'heard':>6}",
        ]
        for node in sorted(vehicles, key=int):
            truth, seen = vehicles[node], rows.get(int(node), {})
            hops, via = seen.get("hops"), seen.get("next_hop")
            route = "-" if hops is None else ("direct" if hops <= 1 else f"{hops} via {via}")
            age = seen.get("age")
            lines.append(
                f"{node:>3} {truth['mode']:<8} {'yes' if truth['armed'] else 'no':<5} "
                f"{truth['x']:>7.0f} {truth['y']:>7.0f} {truth['alt']:>5.0f} "
                f"{_text(seen.get('battery')):>4} {route:<10} "
                f"{_text(seen.get('outbox_depth')):>5} {seen.get('detections', 0):>4} "
                f"{'-' if age is None else f'{age:.0f}s':>6}"
            )
        air = (world or {}).get("air", {})
        links = len((world or {}).get("links", []))
        lines += [
            "",
            f"air: {air.get('frames_sent', 0)} frames, {air.get('bytes_sent', 0)} bytes, "
            f"{air.get('utilisation', 0.0):.1%} of the channel; {links} links in range",
            "",
            "recent events:",
            *self.recent,
        ]
        return "\n".join(lines)


def _text(value: Any) -> str:
    return "-" if value is None else str(value)
