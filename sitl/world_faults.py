"""Faults a running world applies to its air: its plan's on time, its control socket's at once.

Rules:
- A fault is one JSON object with exactly one action:
    {"cut": 3}                          node 3's radio hears nobody and nobody hears it
    {"restore": 3}                      node 3's radio works again
    {"partition": [[1, 2], [255]]}      sides that cannot hear each other (nodes named in
                                        no group form one more side); replaces any earlier
    {"heal": true}                      end the partition
    {"loss": 0.3} / {"loss": 0.3, "node": 3}   extra random loss, swarm-wide / node 3's own
    {"move_ground_station": [east, north, up]} metres from the world's origin
  In the plan (`faults` in world.json) each also has "at": seconds after the world started.
- The radio faults are the channel's own events (`sitl.faults`: NodeDown, NodeUp,
  Partition, Heal, Loss), so a cut node behaves in a real run exactly as a failed node in
  the in-process scenarios. Moving the ground station gives its radio a new position.
- Bad input (a plan entry, a control line) raises or answers `FaultError`; it never stops
  the world.
- Control socket: TCP on 127.0.0.1, one request a line, one JSON line back.
  A fault object answers {"ok": true, "applied": "cut node 3", "t": 12.5}; the word
  `status` answers the world's snapshot; anything else {"ok": false, "error": "..."}.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from .faults import ChannelEvent, Heal, Loss, NodeDown, NodeUp, Partition
from .motion import Position

MAX_LINE = 65536


class FaultError(ValueError):
    """A fault that cannot be applied as written (the caller's mistake)."""


@dataclass(frozen=True, slots=True)
class MoveGroundStation:
    """The ground station's radio stands at `position` from now on."""

    position: Position


WorldEvent = ChannelEvent | MoveGroundStation


@dataclass(frozen=True, slots=True)
class WorldFault:
    """One fault: what it is called, what it does, and (in a plan) when."""

    action: str
    event: WorldEvent
    at: float | None = None

    def describe(self) -> str:
        """One line for the log and the control socket's answer."""
        match self.event:
            case NodeDown(node=node):
                return f"cut node {node}"
            case NodeUp(node=node):
                return f"restore node {node}"
            case Partition(groups=groups):
                return "partition " + " | ".join(str(sorted(group)) for group in groups)
            case Heal():
                return "heal"
            case Loss(probability=p, node=node):
                return f"loss {p} " + ("swarm-wide" if node is None else f"on node {node}")
            case MoveGroundStation(position=position):
                return f"move ground station to {list(position)}"


def _node(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 255:
        raise FaultError(f"a node id is an integer 0-255, not {value!r}")
    return value


def _number(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise FaultError(f"expected a number, not {value!r}")
    return float(value)


def _event(action: str, value: Any, raw: dict[str, Any]) -> WorldEvent:
    match action:
        case "cut":
            return NodeDown(_node(value))
        case "restore":
            return NodeUp(_node(value))
        case "partition":
            if not isinstance(value, list) or not all(isinstance(g, list) for g in value):
                raise FaultError("a partition is a list of lists of node ids")
            return Partition(*({_node(n) for n in group} for group in value))
        case "heal":
            return Heal()
        case "loss":
            node = raw.get("node")
            return Loss(_number(value), None if node is None else _node(node))
        case _:
            if not isinstance(value, list) or len(value) != 3:
                raise FaultError("move_ground_station takes [east, north, up] in metres")
            east, north, up = (_number(v) for v in value)
            return MoveGroundStation((east, north, up))


ACTIONS = frozenset({"cut", "restore", "partition", "heal", "loss", "move_ground_station"})


def parse_fault(raw: Any, *, timed: bool) -> WorldFault:
    """A fault from its JSON object; `timed` (a plan entry) requires "at", else forbids it."""
    if not isinstance(raw, dict):
        raise FaultError("a fault is a JSON object")
    actions = sorted(ACTIONS & raw.keys())
    if len(actions) != 1:
        raise FaultError(f"a fault names exactly one of {sorted(ACTIONS)}, not {actions}")
    allowed = {actions[0], "at"} | ({"node"} if actions[0] == "loss" else set())
    if raw.keys() - allowed:
        raise FaultError(f"unknown keys {sorted(raw.keys() - allowed)}")
    if timed != ("at" in raw):
        raise FaultError("a plan's fault needs 'at'" if timed else "a control fault has no 'at'")
    at = _number(raw["at"]) if timed else None
    if at is not None and at < 0:
        raise FaultError("'at' cannot be negative")
    try:
        event = _event(actions[0], raw[actions[0]], raw)
    except FaultError:
        raise
    except ValueError as error:  # the events' own validation
        raise FaultError(str(error)) from None
    return WorldFault(actions[0], event, at)


def parse_plan(raw: Any) -> tuple[WorldFault, ...]:
    """A plan's faults in the order they happen (equal times keep the plan's order)."""
    if not isinstance(raw, list):
        raise FaultError("faults is a list of fault objects")
    faults = [parse_fault(entry, timed=True) for entry in raw]
    return tuple(sorted(faults, key=lambda fault: fault.at or 0.0))


Apply = Callable[[WorldFault], dict[str, Any]]
Status = Callable[[], dict[str, Any]]


def answer(line: bytes, apply: Apply, status: Status) -> dict[str, Any]:
    """The control socket's reply to one request line."""
    text = line.decode("utf-8", errors="replace").strip()
    if text == "status":
        return status()
    try:
        fault = parse_fault(json.loads(text), timed=False)
    except (json.JSONDecodeError, FaultError) as error:
        return {"ok": False, "error": str(error)}
    return {"ok": True, **apply(fault)}


async def serve_control(
    port: int,
    apply: Apply,
    status: Status,
    *,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer control lines on 127.0.0.1:`port` until cancelled."""

    async def session(stream: trio.SocketStream) -> None:
        buffer = b""
        async with stream:
            # A client that goes away mid-line is its own business, never the world's.
            with contextlib.suppress(trio.BrokenResourceError):
                while chunk := await stream.receive_some(MAX_LINE):
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    if len(buffer) > MAX_LINE:
                        return
                    for line in filter(bytes.strip, lines):
                        reply = json.dumps(answer(line, apply, status)) + "\n"
                        await stream.send_all(reply.encode())

    await trio.serve_tcp(session, port, host="127.0.0.1", task_status=task_status)
