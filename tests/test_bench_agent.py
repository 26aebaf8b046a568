"""bench/agent.py against a real agent process: its figures come out, finite and plausible."""

from __future__ import annotations

import math
from collections.abc import Callable

from bench.agent import rows
from bench.table import render


def test_quick_run_measures_latency_and_cpu_of_a_real_agent(
    report: Callable[[str], None],
) -> None:
    measured = rows(quick=True)
    report(render(measured))
    by_metric = {row.metric: row for row in measured}
    assert list(by_metric) == [
        "detector->radio latency p50",
        "detector->radio latency p99",
        "CPU at default telemetry rate",
    ]
    p50, p99 = by_metric["detector->radio latency p50"], by_metric["detector->radio latency p99"]
    cpu = by_metric["CPU at default telemetry rate"]
    assert all(math.isfinite(row.ours) for row in measured)
    # Loopback and one fsync: milliseconds. Seconds would mean retransmissions (a frame
    # lost on loopback) or a broken stamp, not a slow disk.
    assert 0 < p50.ours <= p99.ours < 2000
    assert (p50.unit, p99.unit) == ("ms", "ms")
    # An idle agent's CPU time is its own, whatever else loads the machine: above zero
    # (it follows the double's stream and reports), far below a whole core.
    assert 0 < cpu.ours < 50
    assert cpu.unit == "% of a core"
    assert all(row.bench == "agent" and row.seed is None for row in measured)
    assert not any(row.higher_is_better for row in measured)
