"""What the ground station knows of its fleet, sans-IO: one row per UAV heard.

Rules:
- Updated from authenticated arrivals only (the node stack delivers nothing else): the
  last telemetry and status a UAV sent, when it was last heard, and from the mesh, the
  route towards it (next hop and hops) and the link quality of a direct neighbour.
- A UAV is `stale` when nothing was heard from it for `stale_after` seconds.
- `rows()` is the operator's view, sorted by node id; values a UAV never sent are None.
- Mode names follow the vehicle kind EVENT_TELEMETRY carries (vehicle_type: Copter, Plane
  and Rover number their modes differently); a sender that does not say gets
  ArduCopter's names (companion/autopilot/modes.telemetry_mode_name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from companion.autopilot.modes import telemetry_mode_name
from dialects import event

STATE_NAMES = {
    event.EVENT_AGENT_STATE_IDLE: "idle",
    event.EVENT_AGENT_STATE_MISSION: "mission",
    event.EVENT_AGENT_STATE_RETASKED: "retasked",
    event.EVENT_AGENT_STATE_RETURNING: "returning",
    event.EVENT_AGENT_STATE_LINK_LOSS: "link-loss",
    event.EVENT_AGENT_STATE_NO_AUTOPILOT: "no-autopilot",
}


@dataclass(slots=True)
class UavRow:
    """One UAV as the ground station last heard it."""

    node: int
    last_heard: float
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    battery: int | None = None
    mode: str | None = None
    armed: bool | None = None
    state: str | None = None
    outbox_depth: int | None = None
    mission_item: int | None = None
    next_hop: int | None = None
    hops: int | None = None
    link_cost: int | None = None
    detections: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class FleetState:
    """The fleet table, fed arrivals and route snapshots."""

    def __init__(self, *, stale_after: float = 30.0) -> None:
        self.stale_after = stale_after
        self._rows: dict[int, UavRow] = {}

    def heard(self, src: int, message: Any, now: float) -> UavRow:
        """Take one inner message that `src` sent."""
        row = self._rows.get(src)
        if row is None:
            row = self._rows[src] = UavRow(src, now)
        row.last_heard = now
        msgid = message.get_msgId()
        if msgid == event.MAVLINK_MSG_ID_EVENT_TELEMETRY:
            row.lat, row.lon = message.lat / 1e7, message.lon / 1e7
            row.alt = message.alt / 10
            row.battery = message.battery_remaining
            row.mode = telemetry_mode_name(message.vehicle_type, message.custom_mode)
            row.armed = bool(message.flags & event.EVENT_STATUS_FLAGS_ARMED)
            row.mission_item = message.mission_item
        elif msgid == event.MAVLINK_MSG_ID_EVENT_STATUS:
            row.state = STATE_NAMES.get(message.state, str(message.state))
            row.outbox_depth = message.outbox_depth
        elif msgid == event.MAVLINK_MSG_ID_EVENT_DETECTION:
            row.detections += 1
        return row

    def routes(self, route_of: Any, cost_of: Any) -> None:
        """Refresh every row's route: `route_of(node)` gives (next hop, hops) or None,
        `cost_of(node)` the ETX cost of a direct neighbour or None."""
        for row in self._rows.values():
            route = route_of(row.node)
            row.next_hop, row.hops = route if route is not None else (None, None)
            row.link_cost = cost_of(row.node)

    def stale(self, node: int, now: float) -> bool:
        row = self._rows.get(node)
        return row is None or now - row.last_heard > self.stale_after

    def rows(self) -> list[UavRow]:
        return [self._rows[node] for node in sorted(self._rows)]

    def __contains__(self, node: int) -> bool:
        return node in self._rows
