"""The compact reports a UAV sends home: EVENT_TELEMETRY, EVENT_STATUS, EVENT_HEARTBEAT.

Rules:
- Built from the autopilot adapter's `VehicleState`; unknown values go as 0 (and the
  flags say what is known: GPS_OK, AUTOPILOT_LINK).
- Airtime budget: a sealed telemetry report is about 60 bytes on the air. At the default
  of one every 2 s per UAV, ten UAVs use under 3 kbit/s of a SiK radio's 64: telemetry
  is the seed's "batch and summarise", not a stream. `TelemetryClock` never sends two
  reports within `min_interval` (one a second, which also keeps the cloud ids unique).
- Telemetry and status need no ACK: a lost one is replaced by the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dialects import event

from ..autopilot.result import clip_reason
from ..autopilot.vehicle_state import VehicleState

MIN_INTERVAL = 1.0


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def status_flags(state: VehicleState, *, routed: bool, failsafe: bool) -> int:
    flags = 0
    if state.armed:
        flags |= event.EVENT_STATUS_FLAGS_ARMED
    if state.gps_ok:
        flags |= event.EVENT_STATUS_FLAGS_GPS_OK
    if state.connected:
        flags |= event.EVENT_STATUS_FLAGS_AUTOPILOT_LINK
    if routed:
        flags |= event.EVENT_STATUS_FLAGS_GATEWAY_ROUTE
    if failsafe:
        flags |= event.EVENT_STATUS_FLAGS_FAILSAFE
    return flags


def telemetry(state: VehicleState, fleet_time: float, flags: int) -> Any:
    """EVENT_TELEMETRY for `state` at `fleet_time` (Unix seconds)."""
    return event.MAVLink_event_telemetry_message(
        time=int(fleet_time),
        lat=_clamp((state.lat or 0.0) * 1e7, -(2**31), 2**31 - 1),
        lon=_clamp((state.lon or 0.0) * 1e7, -(2**31), 2**31 - 1),
        alt=_clamp((state.alt_rel or 0.0) * 10, -(2**15), 2**15 - 1),
        groundspeed=_clamp((state.groundspeed or 0.0) * 100, 0, 65535),
        heading=_clamp(((state.heading or 0.0) % 360) * 100, 0, 35999),
        battery_voltage=_clamp((state.battery_voltage or 0.0) * 100, 0, 65535),
        mission_item=_clamp(state.mission_current or 0, 0, 65535),
        custom_mode=state.custom_mode or 0,
        battery_remaining=_clamp(state.battery_remaining or 0, 0, 100),
        flags=flags,
        satellites=_clamp(state.satellites or 0, 0, 255),
        vehicle_type=state.vehicle_type or event.MAV_TYPE_GENERIC,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStatus:
    """What the agent itself knows, for EVENT_STATUS."""

    uptime: float
    mission_id: int
    outbox_depth: int
    state: int
    last_outcome: int
    gateway_hops: int
    last_seq: int = 0
    last_source: int = 0
    last_reason: str = ""
    """The reason that command's EVENT_ACK gave: a ground station that recovers the
    outcome from status (its final ACK lost) reports the reason with it."""


def status(agent: AgentStatus, fleet_time: float, flags: int) -> Any:
    """EVENT_STATUS for the agent's own state."""
    return event.MAVLink_event_status_message(
        time=int(fleet_time),
        uptime=_clamp(agent.uptime, 0, 2**32 - 1),
        mission_id=agent.mission_id,
        outbox_depth=_clamp(agent.outbox_depth, 0, 65535),
        state=agent.state,
        flags=flags,
        last_outcome=agent.last_outcome,
        gateway_hops=_clamp(agent.gateway_hops, 0, 255),
        last_seq=agent.last_seq,
        last_source=agent.last_source,
        last_reason=clip_reason(agent.last_reason).encode("utf-8"),
    )


class TelemetryClock:
    """When the next report is due: every `interval` seconds, never faster than 1 Hz."""

    def __init__(self, interval: float) -> None:
        if interval < MIN_INTERVAL:
            raise ValueError(f"telemetry interval {interval} s is below {MIN_INTERVAL} s")
        self.interval = interval
        self._next = 0.0

    def due(self, now: float) -> bool:
        if now < self._next:
            return False
        self._next = now + self.interval
        return True
