"""The report of a finished demo run: what reached the cloud, what was lost, how fast.

    run/world.jsonl   header, then one sample a second (truth: positions, links, air)
    run/events.jsonl  what the runner did and saw (detections fed, outage, commands,
                      ground station and agent status samples)
    run/cc.db         the reference command center's SQLite (records, commands)
    -> report.json    `build_report` / `write_report`; `summary` for the terminal

Rules:
- Reads the run, writes only report.json. A line that is not a JSON object, or an event
  without the fields its kind needs, is skipped and counted (`input.skipped`): a process
  stopped mid-line must not cost the report. A missing file or world header, or a
  command center file that cannot be read, is a ReportError.
- A detection is known by what the cloud keys it on: (UAV, track id, its own time in
  whole milliseconds, truncated as the agent does). Every detection fed must be at the
  cloud exactly once: none lost, none stored twice under two ids.
- A command is finished once its status is an outcome other than "accepted"; a command
  the runner issued that the command center never queued is missing. Unfinished and
  missing commands are lost, like lost detections.
- Latency is received at the cloud minus the detection's own time; the outage figures
  are those of detections fed between outage_start and outage_end. Percentiles are
  nearest-rank.
- Priority order during the outage: among records created in the window, a less urgent
  record (a higher EVENT_PRIORITY value) must not reach the cloud strictly before a more
  urgent one the ground station already held. The station stamps when it had each record
  (`gateway_received` in the payload); for records without the stamp, a record is held
  RADIO_SETTLE seconds after the first world sample at or after its creation in which
  its UAV had a path of links to the station (a UAV out of range keeps it on board),
  and no later than it reached the cloud.
- `ok`: no detection or command lost, no duplicate, no priority inversion.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from companion.reliability.priority import Priority
from groundstation.records import Record

from .run_files import Key, ReportError, Run, Window, load_run

__all__ = [
    "OPEN_STATUSES",
    "ReportError",
    "build_report",
    "outage_window",
    "report_of",
    "summary",
    "uav_of",
    "write_report",
]

REPORT_FILE = "report.json"
RADIO_SETTLE = 2.0
"""Seconds for a message to cross the mesh once its UAV has a route (hops, retries)."""
OPEN_STATUSES = frozenset({"queued", "delivered", "accepted"})
"""Command statuses that are not an outcome yet (groundstation.command_center.store)."""
COMMAND_EVENTS = ("mission_assigned", "retask", "abort")
_EXAMPLES = 5
_RETRY = re.compile(r"retr(ies|ied|y|ansmi)")


def build_report(run: Path) -> dict[str, Any]:
    """The report of the run in directory `run` (module docstring); ReportError if none."""
    return report_of(load_run(run))


def report_of(loaded: Run) -> dict[str, Any]:
    """The report of a run already read with `load_run`."""
    window = outage_window(loaded)
    fed = {fed_key(event): event for event in loaded.kind("detection_fed")}
    detections = _detections(loaded, fed)
    commands = _commands(loaded)
    order = _priority_order(loaded, window)
    lost_commands = len(commands["unfinished"]) + len(commands["missing"])
    lost = {
        "detections": len(detections["lost"]),
        "commands": lost_commands,
        "total": len(detections["lost"]) + lost_commands,
    }
    return {
        "run": {
            "start": loaded.start,
            "end": loaded.end,
            "duration_s": round(loaded.end - loaded.start, 3),
            "uavs": loaded.header["uavs"],
            "autopilots": _autopilots(loaded),
        },
        "input": {"skipped": loaded.skipped},
        "messages": _messages(loaded),
        "ack_required": {"detections": detections, "commands": commands},
        "latency": _latency(loaded, fed, window),
        "outage": None if window is None else _outage(loaded, window),
        "priority_order": order,
        "retries": _retries(loaded),
        "air": _air(loaded),
        "lost": lost,
        "ok": lost["total"] == 0 and not detections["duplicated"] and order["violations"] == 0,
    }


def write_report(run: Path, report: dict[str, Any]) -> None:
    """Write `report` to run/report.json."""
    (run / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _autopilots(run: Run) -> dict[str, str]:
    """What flew each UAV, as the world last named it (a double, or SITL's version)."""
    for sample in reversed(run.world):
        vehicles = sample.get("vehicles")
        if isinstance(vehicles, dict):
            return {
                str(node): str(v.get("autopilot", "vehicle double"))
                for node, v in vehicles.items()
                if isinstance(v, dict)
            }
    return {}


def outage_window(run: Run) -> Window | None:
    """The first outage of the run, None if there was none."""
    starts = run.kind("outage_start")
    if not starts:
        return None
    start = float(starts[0]["wall"])
    ends = [float(event["wall"]) for event in run.kind("outage_end") if event["wall"] >= start]
    return Window(start, ends[0], True) if ends else Window(start, max(start, run.end), False)


def fed_key(event: dict[str, Any]) -> Key:
    return (event["uav"], event["track_id"], int(event["time"] * 1000))


def cloud_key(record: Record) -> Key | None:
    """A detection record's key; None if it lacks the fields (not from a UAV)."""
    uav = uav_of(record.source)
    track = record.payload.get("track_id")
    millis = record.payload.get("time")
    if not isinstance(millis, int):
        millis = round(record.timestamp * 1000)
    return None if uav is None or not isinstance(track, int) else (uav, track, millis)


def uav_of(source: str) -> int | None:
    number = source.removeprefix("uav-")
    return int(number) if number != source and number.isdigit() else None


def priority_name(priority: int) -> str:
    return Priority(priority).name.lower()


def _messages(run: Run) -> dict[str, Any]:
    sent: Counter[str] = Counter(detection=len(run.kind("detection_fed")))
    for status in run.agent_status().values():
        counters = status.get("agent", {})
        for name, value in counters.items() if isinstance(counters, dict) else ():
            if name.endswith("_sent") and isinstance(value, int):
                sent[name.removesuffix("_sent")] += value
    records = [record for record, _ in run.records]
    return {
        "delivered": {
            "total": len(records),
            "by_type": dict(sorted(Counter(r.msg_type for r in records).items())),
            "by_priority": {
                priority_name(p): n for p, n in sorted(Counter(r.priority for r in records).items())
            },
        },
        "sent": dict(sorted(sent.items())),
    }


def _detections(run: Run, fed: dict[Key, dict[str, Any]]) -> dict[str, Any]:
    at_cloud: defaultdict[Key, list[str]] = defaultdict(list)
    for record, _ in run.detections():
        key = cloud_key(record)
        if key is not None:
            at_cloud[key].append(record.msg_id)
    by_uav: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for uav, _, _ in fed:
        by_uav[uav]["fed"] += 1
    for uav, _, _ in at_cloud.keys() & fed.keys():
        by_uav[uav]["delivered"] += 1
    return {
        "fed": len(fed),
        "delivered": len(at_cloud.keys() & fed.keys()),
        "lost": [_key_json(key) for key in sorted(fed.keys() - at_cloud.keys())],
        "duplicated": [
            {**_key_json(key), "msg_ids": ids}
            for key, ids in sorted(at_cloud.items())
            if len(ids) > 1
        ],
        "not_fed": [_key_json(key) for key in sorted(at_cloud.keys() - fed.keys())],
        "by_uav": {str(uav): dict(counts) for uav, counts in sorted(by_uav.items())},
    }


def _key_json(key: Key) -> dict[str, Any]:
    return {"uav": key[0], "track_id": key[1], "time_ms": key[2]}


def _commands(run: Run) -> dict[str, Any]:
    rows = [
        {
            "command_id": command.body.get("command_id"),
            "uav": command.body.get("uav"),
            "type": command.body.get("type"),
            "status": command.status,
            "reason": command.reason,
        }
        for command in run.commands
    ]
    queued = {row["command_id"] for row in rows}
    issued = {event["command_id"] for kind in COMMAND_EVENTS for event in run.kind(kind)}
    return {
        "queued": len(rows),
        "by_status": dict(sorted(Counter(row["status"] for row in rows).items())),
        "commands": rows,
        "unfinished": [row["command_id"] for row in rows if row["status"] in OPEN_STATUSES],
        "failed": [
            row["command_id"]
            for row in rows
            if row["status"] not in OPEN_STATUSES and row["status"] != "completed"
        ],
        "missing": sorted(issued - queued),
    }


def _latency(run: Run, fed: dict[Key, dict[str, Any]], window: Window | None) -> dict[str, Any]:
    first: dict[Key, tuple[Record, float]] = {}
    for record, received in run.detections():
        key = cloud_key(record)
        if key in fed and key not in first:
            first[key] = (record, received)
    during: list[float] = []
    outside: list[float] = []
    for key, (record, received) in first.items():
        inside = window is not None and fed[key]["wall"] in window
        (during if inside else outside).append(received - record.timestamp)
    return {"outage": spread(during), "normal": spread(outside)}


def spread(values: Iterable[float]) -> dict[str, Any]:
    """Count, nearest-rank p50 and p95, and max of `values` (seconds, None if empty)."""
    ordered = sorted(values)

    def rank(p: float) -> float | None:
        return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)], 3) if ordered else None

    return {"count": len(ordered), "p50": rank(0.5), "p95": rank(0.95), "max": rank(1.0)}


def _outage(run: Run, window: Window) -> dict[str, Any]:
    """The outage's backlog, and when it was synced: the moment the last record created
    during the outage reached the cloud (exact, from cc.db; the sampled backlog rarely
    reads 0 while telemetry keeps flowing)."""
    backlog = [
        (wall, status["uplink_backlog"])
        for wall, status in run.station_samples()
        if isinstance(status.get("uplink_backlog"), int)
    ]
    caught_up = [received for record, received in run.records if record.timestamp in window]
    synced = max(caught_up) if caught_up and window.ended else None
    emptied = next(
        (wall for wall, depth in backlog if window.ended and wall >= window.end and depth == 0),
        None,
    )
    # The backlog keeps growing after the end until the uplink's next retry: count it all.
    until = max(t for t in (synced, emptied, window.end) if t is not None)
    held = [depth for wall, depth in backlog if window.start <= wall <= until]
    return {
        "start_s": round(window.start - run.start, 3),
        "end_s": round(window.end - run.start, 3),
        "duration_s": round(window.end - window.start, 3),
        "ended": window.ended,
        "max_uplink_backlog": max(held, default=None),
        "synced_after_s": None if synced is None else round(synced - window.end, 3),
        "backlog_empty_after_s": None if emptied is None else round(emptied - window.end, 3),
    }


def _priority_order(run: Run, window: Window | None) -> dict[str, Any]:
    """Pairs (more urgent held, less urgent) checked and inversions (module docstring)."""
    if window is None:
        return {"checked": 0, "violations": 0, "examples": []}
    routed = _routed(run)
    held = sorted(
        (
            (record.priority, _held_from(record, received, routed), received, record)
            for record, received in run.records
            if record.timestamp in window
        ),
        key=lambda item: item[:3],
    )
    by_level: defaultdict[int, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for priority, since, received, _ in held:
        by_level[priority][0].append(since)
        by_level[priority][1].append(received)
    for sinces, receiveds in by_level.values():
        sinces.sort()
        receiveds.sort()
    checked = violations = 0
    for priority, _, received, _ in held:
        for urgent in (level for level in by_level if level < priority):
            sinces, receiveds = by_level[urgent]
            waiting = bisect_right(sinces, received)
            checked += waiting
            violations += waiting - bisect_right(receiveds, received)
    examples = _inversions(held) if violations else []
    return {"checked": checked, "violations": violations, "examples": examples}


def _inversions(held: list[tuple[int, float, float, Record]]) -> list[dict[str, Any]]:
    """The first few inversions by name; `held` is sorted most urgent first."""
    examples: list[dict[str, Any]] = []
    for low, _, early, record in held:
        for high, since, late, urgent in held:
            if high >= low:
                break
            if since <= early < late:
                examples.append({"first": record.msg_id, "then": urgent.msg_id})
                if len(examples) == _EXAMPLES:
                    return examples
    return examples


def _routed(run: Run) -> dict[int, list[float]]:
    """For each UAV, the walls of the world samples where it had a path to the station."""
    ground = run.header.get("ground_station", 255)
    times: defaultdict[int, list[float]] = defaultdict(list)
    for sample in run.world:
        neighbours: defaultdict[int, set[int]] = defaultdict(set)
        for pair in sample.get("links", []):
            if isinstance(pair, list) and len(pair) == 2:
                neighbours[pair[0]].add(pair[1])
                neighbours[pair[1]].add(pair[0])
        reached, frontier = {ground}, [ground]
        while frontier:
            fresh = neighbours[frontier.pop()] - reached
            reached |= fresh
            frontier += fresh
        for node in reached - {ground}:
            times[node].append(sample["wall"])
    return {node: sorted(walls) for node, walls in times.items()}


def _held_from(record: Record, received: float, routed: dict[int, list[float]]) -> float:
    """When the ground station held `record`: the time it stamped (`gateway_received`),
    else, at the latest, as the module docstring estimates it."""
    stamped = record.payload.get("gateway_received")
    if isinstance(stamped, int | float):
        return min(float(stamped), received)
    uav = uav_of(record.source)
    if uav is None:
        return min(record.timestamp, received)
    walls = routed.get(uav, [])
    index = bisect_left(walls, record.timestamp)
    return min(walls[index] + RADIO_SETTLE, received) if index < len(walls) else received


def _retries(run: Run) -> dict[str, Any]:
    """Retry counters by name: the station's uplink, and every other counter section
    ("stack", "sync", ...) of the station and the agents, summed, as "section.name"."""
    samples = run.station_samples()
    station = samples[-1][1] if samples else {}
    uplink = station.get("uplink")
    radio: Counter[str] = Counter()
    for status in [station, *run.agent_status().values()]:
        for section, counters in status.items():
            if section != "uplink":
                radio.update(_retry_counters(counters, f"{section}."))
    return {"uplink": _retry_counters(uplink, ""), "radio": dict(sorted(radio.items()))}


def _retry_counters(counters: object, prefix: str) -> dict[str, int]:
    """Retry counters of a section and of the sections inside it ("stack.sender")."""
    if not isinstance(counters, dict):
        return {}
    found: dict[str, int] = {}
    for name, value in counters.items():
        if isinstance(value, dict):
            found.update(_retry_counters(value, f"{prefix}{name}."))
        elif _RETRY.search(name) and isinstance(value, int):
            found[prefix + name] = value
    return found


def _air(run: Run) -> dict[str, Any]:
    air = run.world[-1].get("air", {}) if run.world else {}
    keys = ("frames_sent", "bytes_sent", "airtime", "frames_received", "lost", "utilisation")
    found = {name: air.get(name) for name in (*keys, "capacity_bytes")}
    match found["bytes_sent"], found["capacity_bytes"]:
        case int() | float() as sent, int() | float() as capacity if capacity > 0:
            ratio: float | None = round(sent / capacity, 4)
        case _:
            ratio = None
    return {**found, "bytes_of_capacity": ratio}


# -- for the terminal ---------------------------------------------------------------------


def summary(report: dict[str, Any]) -> str:
    """The report as a few readable lines."""
    run, ack = report["run"], report["ack_required"]
    det, cmd = ack["detections"], ack["commands"]
    delivered = report["messages"]["delivered"]
    flown = Counter(run.get("autopilots", {}).values())
    lines = [
        f"run: {len(run['uavs'])} UAVs, {run['duration_s']:.0f} s; flown by "
        + (", ".join(f"{name} x{n}" for name, n in sorted(flown.items())) or "-"),
        f"cloud: {delivered['total']} records; by type {_pairs(delivered['by_type'])}; "
        f"by priority {_pairs(delivered['by_priority'])}",
        f"sent: {_pairs(report['messages']['sent'])}",
        f"detections: {det['delivered']}/{det['fed']} delivered, {len(det['lost'])} lost, "
        f"{len(det['duplicated'])} duplicated",
        f"commands: {cmd['queued']} queued ({_pairs(cmd['by_status'])}), "
        f"{len(cmd['unfinished'])} unfinished, {len(cmd['missing'])} missing",
        f"latency normal: {_spread_text(report['latency']['normal'])}",
        f"latency outage: {_spread_text(report['latency']['outage'])}",
    ]
    outage = report["outage"]
    if outage is not None:
        lines.append(
            f"outage: {outage['duration_s']:.0f} s from t={outage['start_s']:.0f} s, uplink "
            f"backlog up to {_text(outage['max_uplink_backlog'])}; every record of the outage "
            f"at the cloud {_seconds(outage['synced_after_s'])} after it ended"
        )
    order = report["priority_order"]
    air = report["air"]
    ratio = air["bytes_of_capacity"]
    lines += [
        f"priority order: {order['violations']} inversions in {order['checked']} pairs",
        f"retries: uplink {_pairs(report['retries']['uplink'])}; "
        f"radio {_pairs(report['retries']['radio'])}",
        f"air: {air['bytes_sent']} bytes in {air['frames_sent']} frames, "
        f"{'-' if ratio is None else f'{ratio:.1%}'} of capacity",
    ]
    if report.get("scenario_error"):
        lines.append(f"scenario stopped early: {report['scenario_error']}")
    lines.append(f"lost: {report['lost']['total'] or 'none'}; {'OK' if report['ok'] else 'NOT OK'}")
    return "\n".join(lines)


def _pairs(counts: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in counts.items()) or "-"


def _spread_text(spread: dict[str, Any]) -> str:
    if not spread["count"]:
        return "no detections"
    return (
        f"{spread['count']} detections, p50 {spread['p50']:.2f} s, p95 {spread['p95']:.2f} s, "
        f"max {spread['max']:.2f} s"
    )


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"
