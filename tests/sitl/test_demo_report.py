"""The demo's report and picture, on a run directory written by hand.

The scenario: UAVs 1 and 2 fly for 30 s from T0; the cloud is down from T0+10 to T0+20.
UAV 2 is out of radio range from T0+8 to T0+25, so its detection of T0+14 stays on board
until then. Records reach a real command center file (CommandCenterStore), made from
real dialect messages by the ground station's own `record_from_message`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from dialects import event
from groundstation.command_center import CommandCenterStore
from groundstation.records import Record, command_outcome_record, record_from_message
from sitl.demo.picture import draw
from sitl.demo.report import ReportError, build_report, report_of, summary, write_report
from sitl.demo.run_files import load_run
from tests.samples import detection

T0 = 1_700_000_000.0
ORIGIN = [-35.363261, 149.165230, 584.0]
OUTAGE = (10.0, 20.0)
OUT_OF_RANGE = (8, 25)
"""UAV 2 has no link from the 8th to the 24th second."""
HIGH, MEDIUM = 1, 2


@dataclass(frozen=True)
class Fed:
    uav: int
    track_id: int
    time: float
    """Seconds after T0 (the detection's own time)."""
    received: float
    """Seconds after T0 it reaches the cloud."""
    held: float | None = None
    """Seconds after T0 the ground station had it (its `gateway_received` stamp); None:
    a record without the stamp, placed by the report's estimate from the world's links."""

    def record(self, gateway: int = 255) -> Record:
        message = detection(seq=self.track_id)
        message.time = int((T0 + self.time) * 1000)  # as the agent stamps it
        held = None if self.held is None else T0 + self.held
        return stamped(record_from_message(self.uav, message, HIGH, gateway=gateway), held)


def stamped(record: Record, held: float | None) -> Record:
    """`record` with the station's `gateway_received` set to `held`, or without one."""
    record.payload.pop("gateway_received")
    if held is not None:
        record.payload["gateway_received"] = held
    return record


FED = (
    Fed(1, 1, 2.0004, 2.6),
    Fed(2, 2, 4.5, 5.0),
    Fed(1, 3, 12.25, 21.0),
    Fed(1, 4, 15.5, 21.0),
    Fed(2, 5, 14.0, 26.0),
)
COMMANDS = (
    ("assign-1", 1, "mission_assign", 1.0),
    ("assign-2", 2, "mission_assign", 1.0),
    ("retask-1", 1, "retask", 22.0),
    ("abort-2", 2, "mission_abort", 24.0),
)
BACKLOG = {2: 0, 6: 0, 11: 1, 15: 4, 19: 6, 21: 3, 23: 0, 27: 0}
"""The ground station's uplink backlog at seconds after T0."""


@dataclass
class Scenario:
    fed: list[Fed] = field(default_factory=lambda: list(FED))
    stored: list[Fed] = field(default_factory=lambda: list(FED))
    duplicated: list[Fed] = field(default_factory=list)
    telemetry_received: dict[int, float] = field(default_factory=dict)
    """Telemetry from UAV 1 created at second t: received at this second instead."""
    answered: tuple[str, ...] = tuple(name for name, *_ in COMMANDS)
    uav2_always_linked: bool = False


def links(second: int, scenario: Scenario) -> list[list[int]]:
    gone = OUT_OF_RANGE[0] <= second < OUT_OF_RANGE[1] and not scenario.uav2_always_linked
    return [[1, 255]] if gone else [[1, 2], [1, 255], [2, 255]]


def telemetry(second: int) -> Record:
    message = event.MAVLink_event_telemetry_message(
        int(T0) + second, -353632621, 1491652374, 584, 1000, 9000, 1600, 3, 4, 80, 3, 12
    )
    return stamped(record_from_message(1, message, MEDIUM), None)


def write_run(path: Path, scenario: Scenario) -> Path:
    """The run directory of `scenario` in `path`: world.jsonl, events.jsonl and cc.db."""
    path.mkdir(exist_ok=True)
    header = {"origin": ORIGIN, "range_m": 600.0, "ground_station": 255, "uavs": [1, 2]}
    world = [{**header, "air_rate": 64000.0}, *(sample(s, scenario) for s in range(31))]
    (path / "world.jsonl").write_text("".join(json.dumps(line) + "\n" for line in world))
    events = run_events(scenario)
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    store = CommandCenterStore(path / "cc.db")
    try:
        for received, record in sorted(arrivals(store, scenario), key=lambda pair: pair[0]):
            store.store([record], T0 + received, "gs-255")
    finally:
        store.close()
    return path


def sample(second: int, scenario: Scenario) -> dict[str, Any]:
    """The world one second: UAV 1 flies east at 10 m/s, UAV 2 north at 30 m/s."""
    flags = {"lat": 0.0, "lon": 0.0, "alt": 30.0, "mode": "AUTO", "armed": True, "landed": False}
    return {
        "t": float(second),
        "wall": T0 + second,
        "vehicles": {
            "1": {**flags, "x": 10.0 * second, "y": 0.0},
            "2": {**flags, "x": 0.0, "y": 30.0 * second},
        },
        "links": links(second, scenario),
        "air": {
            "frames_sent": 100 * second,
            "bytes_sent": 8000 * second,
            "airtime": 1.0 * second,
            "frames_received": 150 * second,
            "lost": {},
            "utilisation": 0.125,
            "capacity_bytes": 64000.0 * second,
        },
    }


def run_events(scenario: Scenario) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"wall": T0, "kind": "started"}]
    kinds = {"mission_assign": "mission_assigned", "retask": "retask", "mission_abort": "abort"}
    for name, uav, kind, at in COMMANDS:
        extra = {"lat": ORIGIN[0] + 0.001, "lon": ORIGIN[1]} if kind == "retask" else {}
        events.append({"wall": T0 + at, "kind": kinds[kind], "uav": uav, "command_id": name})
        events[-1].update(extra)
    for fed in scenario.fed:
        events.append(
            {
                "wall": T0 + fed.time + 0.1,
                "kind": "detection_fed",
                "uav": fed.uav,
                "track_id": fed.track_id,
                "time": T0 + fed.time,
                "priority": "high",
                "chip_bytes": 0,
            }
        )
    events.append({"wall": T0 + OUTAGE[0], "kind": "outage_start"})
    events.append({"wall": T0 + OUTAGE[1], "kind": "outage_end"})
    for second, depth in BACKLOG.items():
        status = {
            "fleet": [],
            "uplink_backlog": depth,
            "radio_outbox_depth": 0,
            "stack": {"node": {"stale": 0}, "sessions": {"handshake_retransmitted": 1}},
            "uplink": {"published": 40, "retries": second // 10},
        }
        events.append({"wall": T0 + second, "kind": "station", "status": status})
    for uav in (1, 2):
        status = {
            "agent": {"telemetry_sent": 30, "status_sent": 10, "detections": 2},
            "stack": {"sender": {"retransmitted": uav}},
            "outbox_depth": 0,
        }
        events.append({"wall": T0 + 29, "kind": "agent", "uav": uav, "status": status})
    events.append({"wall": T0 + 30, "kind": "finished"})
    return events


def arrivals(store: CommandCenterStore, scenario: Scenario) -> list[tuple[float, Record]]:
    """Queue the commands in `store`; the records the cloud receives, with when (after T0)."""
    received = [(fed.received, fed.record()) for fed in scenario.stored]
    received += [(fed.received + 0.5, fed.record(gateway=7)) for fed in scenario.duplicated]
    for second in range(30):
        held = OUTAGE[0] <= second <= OUTAGE[1]
        late = OUTAGE[1] + 1.5 if held else second + 0.3
        received.append((scenario.telemetry_received.get(second, late), telemetry(second)))
    for name, uav, kind, at in COMMANDS:
        store.queue({"command_id": name, "uav": uav, "type": kind, "params": {}}, T0 + at, "test")
        if name in scenario.answered:
            outcome = event.EVENT_OUTCOME_COMPLETED
            received.append((at + 2, command_outcome_record(name, uav, outcome, timestamp=T0 + at)))
    return received


def test_a_clean_run_is_ok_and_loses_nothing(tmp_path: Path) -> None:
    report = build_report(write_run(tmp_path, Scenario()))
    write_report(tmp_path, report)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert report["ok"] is True
    assert report["lost"] == {"detections": 0, "commands": 0, "total": 0}
    detections = report["ack_required"]["detections"]
    assert (detections["fed"], detections["delivered"]) == (len(FED), len(FED))
    assert detections["lost"] == detections["duplicated"] == detections["not_fed"] == []
    commands = report["ack_required"]["commands"]
    assert commands["by_status"] == {"completed": len(COMMANDS)}
    assert commands["unfinished"] == commands["missing"] == []
    assert report["run"]["duration_s"] == 30.0
    delivered = report["messages"]["delivered"]
    assert delivered["by_type"] == {"ack": len(COMMANDS), "detection": len(FED), "telemetry": 30}
    assert delivered["by_priority"] == {"high": len(FED) + len(COMMANDS), "medium": 30}
    assert report["messages"]["sent"] == {"detection": len(FED), "status": 20, "telemetry": 60}


def test_latency_is_split_at_the_outage(tmp_path: Path) -> None:
    latency = build_report(write_run(tmp_path, Scenario()))["latency"]
    # Fed during the outage: tracks 3, 4 and 5 (received - own time: 8.75, 5.5, 12.0).
    assert latency["outage"] == {"count": 3, "p50": 8.75, "p95": 12.0, "max": 12.0}
    assert latency["normal"]["count"] == 2
    assert latency["normal"]["max"] == pytest.approx(0.5996, abs=1e-3)


def test_outage_backlog_and_sync_time(tmp_path: Path) -> None:
    outage = build_report(write_run(tmp_path, Scenario()))["outage"]
    assert outage["start_s"] == OUTAGE[0]
    assert outage["duration_s"] == OUTAGE[1] - OUTAGE[0]
    assert outage["max_uplink_backlog"] == max(BACKLOG.values())
    assert outage["synced_after_s"] == 26.0 - OUTAGE[1]  # track 5, held on board, arrives
    assert outage["backlog_empty_after_s"] == 23 - OUTAGE[1]  # first empty backlog sample


def test_a_detection_missing_at_the_cloud_is_lost(tmp_path: Path) -> None:
    gone = FED[2]
    report = build_report(write_run(tmp_path, Scenario(stored=[f for f in FED if f != gone])))
    assert report["ok"] is False
    detections = report["ack_required"]["detections"]
    assert detections["lost"] == [
        {"uav": gone.uav, "track_id": gone.track_id, "time_ms": int((T0 + gone.time) * 1000)}
    ]
    assert detections["delivered"] == len(FED) - 1
    assert report["lost"]["total"] == 1


def test_a_detection_stored_under_two_ids_is_duplicated(tmp_path: Path) -> None:
    twice = FED[1]
    report = build_report(write_run(tmp_path, Scenario(duplicated=[twice])))
    assert report["ok"] is False
    assert report["lost"]["total"] == 0
    [duplicate] = report["ack_required"]["detections"]["duplicated"]
    assert (duplicate["uav"], duplicate["track_id"]) == (twice.uav, twice.track_id)
    assert duplicate["msg_ids"] == [twice.record().msg_id, twice.record(gateway=7).msg_id]


def test_a_command_without_outcome_is_unfinished_and_one_never_queued_is_missing(
    tmp_path: Path,
) -> None:
    run = write_run(tmp_path, Scenario(answered=("assign-1", "assign-2", "retask-1")))
    with (run / "events.jsonl").open("a") as events:
        events.write(json.dumps({"wall": T0 + 28, "kind": "abort", "uav": 1, "command_id": "x"}))
    report = build_report(run)
    commands = report["ack_required"]["commands"]
    assert commands["unfinished"] == ["abort-2"]
    assert commands["missing"] == ["x"]
    assert report["lost"] == {"detections": 0, "commands": 2, "total": 2}
    assert report["ok"] is False


def test_a_less_urgent_record_overtaking_a_held_one_is_an_inversion(tmp_path: Path) -> None:
    # Telemetry of second 12 reaches the cloud before tracks 3 and 4 (held since 12.25
    # and 15.5, received at 21.0); track 5 is still on UAV 2, out of range.
    report = build_report(write_run(tmp_path, Scenario(telemetry_received={12: 20.5})))
    order = report["priority_order"]
    assert order["violations"] == 2
    held = {FED[2].record().msg_id, FED[3].record().msg_id}
    assert {pair["then"] for pair in order["examples"]} == held
    assert report["ok"] is False


def test_the_station_stamp_says_when_a_record_was_held(tmp_path: Path) -> None:
    # Track 3 still on the radio until 20.8 (retransmissions): telemetry at 20.5 is fine.
    late = [replace(FED[2], held=20.8), *FED[3:]]
    fine = Scenario(fed=[*FED[:2], *late], stored=[*FED[:2], *late], telemetry_received={12: 20.5})
    order = build_report(write_run(tmp_path / "a", fine))["priority_order"]
    assert order["violations"] == 1  # only track 4, held (estimated) since 15.5
    # Stamped as held at 12.3, it was overtaken.
    early = [replace(FED[2], held=12.3), replace(FED[3], held=20.8), FED[4]]
    overtaken = Scenario(
        fed=[*FED[:2], *early], stored=[*FED[:2], *early], telemetry_received={12: 20.5}
    )
    report = build_report(write_run(tmp_path / "b", overtaken))
    assert report["priority_order"]["violations"] == 1
    assert report["priority_order"]["examples"] == [
        {"first": telemetry(12).msg_id, "then": early[0].record().msg_id}
    ]


def test_a_record_still_on_an_out_of_range_uav_is_not_held_by_the_station(
    tmp_path: Path,
) -> None:
    # Telemetry at 21.5 precedes track 5 (26.0): fine while UAV 2 was out of range...
    clean = build_report(write_run(tmp_path / "a", Scenario()))["priority_order"]
    assert clean["violations"] == 0
    assert clean["checked"] > 0
    # ...an inversion had UAV 2 been linked all along.
    linked = build_report(write_run(tmp_path / "b", Scenario(uav2_always_linked=True)))
    outage_telemetry = int(OUTAGE[1] - OUTAGE[0]) + 1  # both ends included
    assert linked["priority_order"]["violations"] == outage_telemetry


def test_broken_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    run = write_run(tmp_path, Scenario())
    with (run / "events.jsonl").open("a") as events:
        events.write('{"wall": 1, "kind": "detection_fed", "uav": 1}\n[]\n{"wall": 17')
    report = build_report(run)
    assert report["input"]["skipped"] == {"world.jsonl": 0, "events.jsonl": 3}
    assert report["ok"] is True


def test_a_run_without_its_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"world\.jsonl is missing"):
        build_report(tmp_path)
    (tmp_path / "world.jsonl").write_text('{"t": 0}\n')
    with pytest.raises(ReportError, match="header"):
        build_report(tmp_path)
    assert not (tmp_path / "cc.db").exists()


def test_retries_air_and_summary(tmp_path: Path) -> None:
    report = build_report(write_run(tmp_path, Scenario()))
    last_station = max(BACKLOG)
    assert report["retries"] == {
        "uplink": {"retries": last_station // 10},
        "radio": {
            "stack.sessions.handshake_retransmitted": 1,
            "stack.sender.retransmitted": 1 + 2,
        },
    }
    assert report["air"]["bytes_sent"] == 8000 * 30
    assert report["air"]["bytes_of_capacity"] == 0.125
    text = summary(report)
    assert f"detections: {len(FED)}/{len(FED)} delivered, 0 lost" in text
    assert text.endswith("lost: none; OK")
    assert report["run"]["autopilots"] == {"1": "vehicle double", "2": "vehicle double"}
    assert ", 30 s; flown by vehicle double x2\n" in text
    stopped = summary({**report, "scenario_error": "waited 90 s for X", "ok": False})
    assert stopped.endswith("scenario stopped early: waited 90 s for X\nlost: none; NOT OK")


def test_draw_writes_a_png_of_the_run(tmp_path: Path) -> None:
    run = write_run(tmp_path, Scenario())
    png = tmp_path / "run.png"
    loaded = load_run(run)
    draw(loaded, report_of(loaded), png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert (width, height) == (1200, 800)
    assert len(data) > 30_000  # tracks, bars and text, not a blank canvas
