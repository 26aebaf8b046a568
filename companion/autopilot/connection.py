"""The companion's side of the flight-controller link, sans-IO: framing, state, operations.

Rules:
- Frames are MAVLink 2 through the project's `Link` without a key: the companion's
  serial (or SITL TCP) wire to the autopilot is a trusted local link. Our frames carry
  our own system id and component MAV_COMP_ID_ONBOARD_COMPUTER (191).
- We send a HEARTBEAT (MAV_TYPE_ONBOARD_CONTROLLER) every `heartbeat_interval`, so
  ArduPilot sees and routes to the companion.
- Every received message updates the `StateTracker`; only the flight controller's own
  messages go on to the running operations, and only if addressed to us or to everyone
  (another GCS's COMMAND_ACKs and mission requests are not ours to take).
- Link events drive the operations: each knows whether the link is up (a timeout while it
  is down reads AUTOPILOT_UNAVAILABLE), a reboot is passed to each (a mission upload
  starts over), and on connecting, on a restored link and after a reboot the message
  rates are requested again.
- `receive_*` return the raw frames that arrived, for the flight log; `frames_to_send`
  gives the frames to write, in order. Nothing here does I/O; `now` is monotonic seconds.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dialects import event

from ..link import Link, LinkConfig
from ..link.link import MAV_COMP_ID_ONBOARD_COMPUTER, Received
from .operation import Operation, Target, Timing
from .result import unavailable
from .stream_rates import DEFAULT_RATES, StreamRates
from .vehicle_state import LinkEvent, LinkEventKind, StateTracker, VehicleState

_UNSIGNED_WALL_TIME = 0.0
"""`Link.send` needs wall time only to sign; the autopilot wire is unsigned."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionConfig:
    system_id: int
    """Our system id (the companion's own, as on the rest of the network)."""
    component_id: int = MAV_COMP_ID_ONBOARD_COMPUTER
    fc_system_id: int | None = None
    """The flight controller's system id; None: learned from its first HEARTBEAT."""
    link_timeout: float = 5.0
    """Seconds without the autopilot's HEARTBEAT before the link counts as lost."""
    heartbeat_interval: float = 1.0
    timing: Timing = field(default_factory=Timing)
    rates: Mapping[int, float] = field(default_factory=lambda: dict(DEFAULT_RATES))


class AutopilotConnection:
    """Feed it the bytes from the flight controller and time; send what it gives."""

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config
        self.link = Link(LinkConfig(system_id=config.system_id, component_id=config.component_id))
        self.tracker = StateTracker(system_id=config.fc_system_id, link_timeout=config.link_timeout)
        self.rates: StreamRates | None = None
        self.counters: Counter[str] = Counter()
        self._ops: list[Operation] = []
        self._out: deque[bytes] = deque()
        self._events: deque[LinkEvent] = deque()
        self._next_heartbeat = -math.inf

    @property
    def state(self) -> VehicleState:
        return self.tracker.state

    @property
    def target(self) -> Target | None:
        """The flight controller's address, once known from its HEARTBEAT."""
        state = self.state
        if state.system_id is None or state.component_id is None:
            return None
        return Target(state.system_id, state.component_id)

    # -- input ---------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[bytes]:
        """Bytes of a stream (serial, TCP); returns the frames they completed."""
        return self._take(self.link.receive_data(data, _UNSIGNED_WALL_TIME), now)

    def receive_datagram(self, data: bytes, now: float) -> list[bytes]:
        return self._take(self.link.receive_datagram(data, _UNSIGNED_WALL_TIME), now)

    def receive_idle(self, now: float) -> list[bytes]:
        """The stream went quiet: give up on a frame that stopped short."""
        return self._take(self.link.receive_idle(_UNSIGNED_WALL_TIME), now)

    # -- operations ----------------------------------------------------------------------

    def start(self, op: Operation, now: float) -> None:
        """Run `op`; it ends at once with AUTOPILOT_UNAVAILABLE if the link is down."""
        if not self.state.connected:
            op.finish(unavailable(f"{op.label}: no HEARTBEAT from the autopilot"))
            return
        self._ops.append(op)
        op.link_up = self.state.connected
        self._queue(op.start(now))
        self._prune()

    def cancel(self, op: Operation, now: float) -> None:
        if op in self._ops:
            self._queue(op.cancel(now))
            self._prune()

    # -- time ----------------------------------------------------------------------------

    def next_deadline(self) -> float:
        deadlines = [self._next_heartbeat, self.tracker.next_deadline()]
        deadlines += [op.next_deadline() for op in self._ops]
        return min(d for d in deadlines if d is not None)

    def on_timer(self, now: float) -> None:
        if now >= self._next_heartbeat:
            self._queue([self._heartbeat()])
            self._next_heartbeat = now + self.config.heartbeat_interval
        self.tracker.on_timer(now)
        self._handle_link_events(now)
        for op in list(self._ops):
            deadline = op.next_deadline()
            if deadline is not None and now >= deadline:
                self._queue(op.on_timer(now))
        self._prune()

    # -- output --------------------------------------------------------------------------

    def frames_to_send(self) -> list[bytes]:
        frames = list(self._out)
        self._out.clear()
        return frames

    def next_event(self) -> LinkEvent | None:
        """The next change of the link (connected, lost, restored, rebooted), if any."""
        return self._events.popleft() if self._events else None

    def status(self) -> dict[str, Any]:
        """For status.json (docs/deploy.md): what the link dropped and why, what the
        vehicle's state refused, and the reboots and losses seen."""
        link, tracker = self.link.status(), self.tracker
        return {
            "connected": self.state.connected,
            "frames_received": link["frames_received"],
            "frames_sent": link["frames_sent"],
            "drops": link["drops"],
            "skipped_bytes": link["skipped_bytes"],
            "not_from_vehicle": self.counters["not_from_vehicle"],
            "not_addressed_to_us": self.counters["not_addressed_to_us"],
            "out_of_range": tracker.out_of_range,
            "clock_outliers": tracker.clock_outliers,
            "reboots": self.state.reboots,
            "links_lost": self.state.links_lost,
        }

    # -- internals -----------------------------------------------------------------------

    def _take(self, received: list[Received], now: float) -> list[bytes]:
        for item in received:
            self._receive(item.message, now)
        self._prune()
        return [item.frame.data for item in received]

    def _receive(self, message: Any, now: float) -> None:
        if not self.tracker.receive(message, now):
            self.counters["not_from_vehicle"] += 1
            return
        self._handle_link_events(now)
        if not self._addressed_to_us(message):
            self.counters["not_addressed_to_us"] += 1
            return
        for op in list(self._ops):
            self._queue(op.receive(message, now))

    def _addressed_to_us(self, message: Any) -> bool:
        system = getattr(message, "target_system", 0)
        component = getattr(message, "target_component", 0)
        return system in (0, self.config.system_id) and component in (
            0,
            self.config.component_id,
        )

    def _handle_link_events(self, now: float) -> None:
        while (change := self.tracker.next_event()) is not None:
            self._events.append(change)
            for op in self._ops:
                op.link_up = self.state.connected
            if change.kind is LinkEventKind.LOST:
                continue
            if change.kind is LinkEventKind.REBOOTED:
                for op in list(self._ops):
                    if op is not self.rates:
                        self._queue(op.on_reboot(now))
            self._request_rates(now)

    def _request_rates(self, now: float) -> None:
        target = self.target
        if target is None:
            return
        if self.rates is not None and self.rates in self._ops:
            self._ops.remove(self.rates)
        self.rates = StreamRates(target, self.config.timing, self.config.rates)
        self._ops.append(self.rates)
        self._queue(self.rates.start(now))

    def _prune(self) -> None:
        self._ops = [op for op in self._ops if not op.done]

    def _queue(self, messages: list[Any]) -> None:
        for message in messages:
            self._out.append(self.link.send(message, _UNSIGNED_WALL_TIME))

    def _heartbeat(self) -> Any:
        return event.MAVLink_heartbeat_message(
            event.MAV_TYPE_ONBOARD_CONTROLLER,
            event.MAV_AUTOPILOT_INVALID,
            0,
            0,
            event.MAV_STATE_ACTIVE,
            3,
        )
