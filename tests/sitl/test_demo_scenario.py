"""The main job as a test: `python -m sitl.demo --quick`, every part its own process, and
its report checked: nothing ACK-required lost or doubled, priority order kept, the outage
buffered and synced, the far UAV heard through the relay, every UAV landed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

LIMIT = 900
"""Seconds the whole run may take on a loaded 2-core machine (it needs about three)."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run with its default (relative) run directory, as the README's command makes it."""
    where = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [sys.executable, "-m", "sitl.demo", "--quick", "--no-live"],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
        stdin=subprocess.DEVNULL,
        cwd=where,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (out,) = (where / "runs").iterdir()
    return out


@pytest.fixture(scope="module")
def report(run: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((run / "report.json").read_text())
    return found


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_ack_required_message_arrived_once(report: dict[str, Any]) -> None:
    detections = report["ack_required"]["detections"]
    assert detections["fed"] >= 10
    assert detections["delivered"] == detections["fed"]
    assert detections["lost"] == []
    assert detections["duplicated"] == []
    commands = report["ack_required"]["commands"]
    assert commands["by_status"] == {"completed": commands["queued"]}
    assert commands["queued"] == 7  # 4 surveys, a retask, two aborts
    assert report["lost"]["total"] == 0
    assert report["ok"] is True


def test_buffered_records_reached_the_cloud_in_priority_order(report: dict[str, Any]) -> None:
    order = report["priority_order"]
    assert order["checked"] > 0
    assert order["violations"] == 0


def test_the_outage_was_buffered_and_synced(report: dict[str, Any]) -> None:
    outage = report["outage"]
    assert outage["ended"] is True
    assert outage["duration_s"] >= 20
    assert outage["max_uplink_backlog"] > 0, "records waited at the station"
    assert outage["synced_after_s"] is not None
    assert report["latency"]["outage"]["count"] > 0


def test_the_far_uav_reported_through_the_relay(run: Path, report: dict[str, Any]) -> None:
    world = lines(run / "world.jsonl")
    header, samples = world[0], world[1:]
    far, gs = max(header["uavs"]), header["ground_station"]
    out_of_range = [s["wall"] for s in samples if [far, gs] not in s["links"]]
    assert out_of_range, "the far UAV left the ground station's range"
    fed_away = [
        e
        for e in lines(run / "events.jsonl")
        if e["kind"] == "detection_fed"
        and e["uav"] == far
        and min(out_of_range) <= e["wall"] <= max(out_of_range)
    ]
    assert fed_away, "the far UAV detected something while out of range"
    by_uav = report["ack_required"]["detections"]["by_uav"][str(far)]
    assert by_uav["delivered"] == by_uav["fed"]
    relayed = [
        row
        for e in lines(run / "events.jsonl")
        if e["kind"] == "station"
        for row in e["fleet"]
        if row["node"] == far and (row["hops"] or 0) >= 2
    ]
    assert relayed, "the ground station routed to the far UAV through another UAV"


def test_the_run_ended_with_every_uav_landed(run: Path) -> None:
    last = lines(run / "world.jsonl")[-1]
    for node, vehicle in last["vehicles"].items():
        assert vehicle["landed"], node
        assert not vehicle["armed"], node


def test_the_picture_and_the_report_were_written(run: Path, report: dict[str, Any]) -> None:
    png = (run / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 20_000
    assert report["air"]["bytes_sent"] > 0
    assert 0 < report["air"]["bytes_of_capacity"] < 1
