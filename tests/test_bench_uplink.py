"""bench/uplink.py in quick mode: every figure measured, positive and finite, and each
outage's backlog delivered whole. A record missing at the cloud makes `rows` raise
`UplinkBenchError`; the notes name how many records the cloud held, checked here against
the size of the backlog the fleet makes in the quick outage."""

from __future__ import annotations

import math

import pytest

from bench.station import fleet_traffic
from bench.table import Row
from bench.uplink import QUICK_OUTAGE, rows
from sitl.mosquitto import find_mosquitto


def check(measured: dict[str, Row], transport: str, backlog: int) -> None:
    names = ("radio->cloud", "drain after 10-min outage", "time to empty after 10-min outage")
    for name in names:
        row = measured[f"{transport} {name}"]
        assert math.isfinite(row.ours), row
        assert row.ours > 0, row
        assert row.seed is None, row  # the seed peer has no uplink to measure
    assert measured[f"{transport} radio->cloud"].note.startswith(f"{backlog:,} records")
    assert measured[f"{transport} drain after 10-min outage"].note.startswith(
        f"{backlog:,} records held back by a 1 min outage (quick; 10 min in full)"
    )


def test_quick_run_measures_every_figure_and_drains_the_whole_backlog() -> None:
    backlog = len(fleet_traffic(QUICK_OUTAGE, 1_750_000_000).arrivals)
    assert backlog == 384  # 4 UAVs, 1 min: 30 telemetry, 6 status, 60 detections each
    measured = {row.metric: row for row in rows(quick=True)}
    assert all(row.bench == "uplink" for row in measured.values())
    check(measured, "HTTP", backlog)
    if find_mosquitto() is None:
        assert not any(metric.startswith("MQTT") for metric in measured)
        pytest.skip("mosquitto is not installed: HTTP checked, the MQTT rows were omitted")
    check(measured, "MQTT", backlog)
