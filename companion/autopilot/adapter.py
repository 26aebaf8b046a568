"""The autopilot adapter: drives ArduPilot over one transport, under trio.

`AutopilotAdapter.run()` is the thin loop around `AutopilotConnection` (receive, transmit,
timer, as `companion/runtime.py` does for the node stack). The command methods start
sans-IO operations on it and wait for their results, one step after another.

Rules:
- A command waits up to `connect_timeout` for the autopilot's HEARTBEAT, then answers
  AUTOPILOT_UNAVAILABLE; it never raises for anything the autopilot does.
- Starting a mission on a copter on the ground, as ArduCopter needs it with default
  settings: GUIDED, arm, NAV_TAKEOFF, climb, then MISSION_SET_CURRENT 1 and AUTO. (AUTO
  then arm then MISSION_START works only with AUTO_OPTIONS allowing arming in AUTO, and
  an AUTO mission whose first item is a waypoint does not leave the ground.) Airborne,
  it is MISSION_SET_CURRENT 1 and AUTO. Every mode is confirmed by HEARTBEAT.
- A mission upload is verified by reading the mission back (`READ_BACK_ATTEMPTS`),
  whatever the upload's end looked like once every item had been sent (see
  mission_protocol.py).
- Modes change only when a command asks: abort (RTL, LAND, or hold in GUIDED; HOLD on a
  rover), retask (GUIDED), mission start (GUIDED for a copter's takeoff, then AUTO).
- A plane or a rover starts a mission with item 1 current, arming, then AUTO, as ArduPlane
  and ArduRover need it: a plane takes off from the mission's NAV_TAKEOFF item. A mode the autopilot
  chose instead is reported, never overridden.
- Cancelling a command (the executor preempting it) cancels its operation: the adapter
  keeps running, and what was already sent to the autopilot stays sent.
- Commands of the same kind must not overlap: the executor runs them one at a time.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from enum import IntEnum

import trio

from dialects import event

from ..link.endpoint import IDLE_FLUSH
from ..log_limit import LogLimiter
from ..transport import Transport
from .commands import Arm, CommandRequest, ModeChange, SetCurrentItem, Takeoff
from .connection import AutopilotConnection, ConnectionConfig
from .mission_protocol import MissionDownload, MissionItem, MissionUpload, first_difference
from .modes import VehicleKind, kind_of, mode_number
from .operation import Operation, Target, Timing
from .parameters import NAME_BYTES, ParamSet, value_problem
from .result import Result, completed, failed, invalid
from .stream_rates import DEFAULT_RATES
from .tlog import TlogWriter
from .vehicle_state import LinkEvent, LinkEventKind, VehicleState

logger = logging.getLogger(__name__)

READ_BACK_ATTEMPTS = 2
"""Downloads tried when reading a mission back: the 250 ms item timeout of the mission
protocol is the step most easily defeated by a lossy link, so a read-back that timed out
is tried once more from the start."""

NO_AUTOPILOT = Result(event.EVENT_OUTCOME_AUTOPILOT_UNAVAILABLE, "no HEARTBEAT from autopilot")


class AbortAction(IntEnum):
    """What an abort makes the vehicle do (EVENT_ABORT_ACTION values)."""

    RTL = event.EVENT_ABORT_ACTION_RTL
    LAND = event.EVENT_ABORT_ACTION_LAND
    HOLD = event.EVENT_ABORT_ACTION_HOLD


class AutopilotAdapter:
    """Connects to the flight controller over `transport` and executes commands on it."""

    def __init__(
        self,
        transport: Transport,
        *,
        system_id: int,
        component_id: int = event.MAV_COMP_ID_ONBOARD_COMPUTER,
        fc_system_id: int | None = None,
        timing: Timing | None = None,
        link_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        rates: Mapping[int, float] = DEFAULT_RATES,
        tlog: TlogWriter | None = None,
        on_link_event: Callable[[LinkEvent], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.timing = timing or Timing()
        self.connection = AutopilotConnection(
            ConnectionConfig(
                system_id=system_id,
                component_id=component_id,
                fc_system_id=fc_system_id,
                link_timeout=link_timeout,
                timing=self.timing,
                rates=dict(rates),
            )
        )
        self.transport = transport
        self.connect_timeout = connect_timeout
        self.tlog = tlog
        self.on_link_event = on_link_event
        self.mission: list[MissionItem] | None = None
        """The mission the autopilot holds as last uploaded and verified (item 0 home)."""
        self._wall = wall_clock
        self._work = trio.Event()
        self._link_changed = trio.Event()
        self._waiting: dict[Operation, trio.Event] = {}
        self._log_limit = LogLimiter(logger)
        """Each kind of link change logged at most once a minute (a flapping or hostile
        link writes a few lines, with suppressed=N)."""

    @property
    def state(self) -> VehicleState:
        """The vehicle as last reported (updated in place; read, do not modify)."""
        return self.connection.state

    # -- driver --------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled (or the transport is closed under it)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive_loop)
            nursery.start_soon(self._transmit_loop)
            nursery.start_soon(self._timer_loop)

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """True once the autopilot's HEARTBEAT is heard; False after `timeout` seconds."""
        with trio.move_on_after(self.connect_timeout if timeout is None else timeout):
            while not self.state.connected:
                await self._link_changed.wait()
            return True
        return False

    async def _receive_loop(self) -> None:
        transport = self.transport
        while True:
            now = trio.current_time()
            if transport.is_datagram:
                frames = self.connection.receive_datagram(await transport.receive(), now)
            else:
                with trio.move_on_after(IDLE_FLUSH) as idle:
                    data = await transport.receive()
                if idle.cancelled_caught:
                    frames = self.connection.receive_idle(trio.current_time())
                else:
                    frames = self.connection.receive_data(data, trio.current_time())
            self._log(frames)
            self._after_step()

    async def _transmit_loop(self) -> None:
        while True:
            frames = self.connection.frames_to_send()
            if not frames:
                await self._work.wait()
                continue
            for frame in frames:
                self._log([frame])
                await self.transport.send(frame)

    async def _timer_loop(self) -> None:
        while True:
            work = self._work
            with trio.move_on_at(self.connection.next_deadline()):
                await work.wait()
                continue
            self.connection.on_timer(trio.current_time())
            self._after_step()

    def _after_step(self) -> None:
        """After any input or timer: report link changes, finished operations, wake loops."""
        while (change := self.connection.next_event()) is not None:
            level = logging.INFO if change.kind is LinkEventKind.CONNECTED else logging.WARNING
            kind = change.kind.value
            self._log_limit.log(level, change.at, "autopilot_link", "kind=%s", kind, key=kind)
            if self.on_link_event is not None:
                self.on_link_event(change)
            if change.kind is LinkEventKind.REBOOTED:
                self.mission = None
            self._link_changed.set()
            self._link_changed = trio.Event()
        for op, done in list(self._waiting.items()):
            if op.done:
                done.set()
        self._work.set()
        self._work = trio.Event()

    def _log(self, frames: list[bytes]) -> None:
        if self.tlog is not None and frames:
            wall = self._wall()
            for frame in frames:
                self.tlog.record(frame, wall)

    async def _target(self) -> Target | None:
        """The autopilot's address once connected (waiting up to `connect_timeout`)."""
        if not self.state.connected and not await self.wait_connected():
            return None
        return self.connection.target

    async def _run(self, op: Operation) -> Result:
        """Run `op` to its end (or cancel it if we are cancelled) and return its result."""
        done = self._waiting[op] = trio.Event()
        try:
            self.connection.start(op, trio.current_time())
            self._after_step()
            await done.wait()
        finally:
            del self._waiting[op]
            if not op.done:
                self.connection.cancel(op, trio.current_time())
                self._after_step()
        assert op.result is not None
        return op.result

    # -- missions ------------------------------------------------------------------------

    async def assign_mission(
        self, items: Sequence[MissionItem], *, start: bool, takeoff_alt: float | None = None
    ) -> Result:
        """Upload `items` (without home: item 0 is added), verify, and start if asked.

        `takeoff_alt` (metres above home) is needed to start from the ground.
        """
        result = await self.upload_mission(items)
        if not result.ok or not start:
            return result
        return await self.start_mission(takeoff_alt)

    async def upload_mission(self, items: Sequence[MissionItem]) -> Result:
        """Upload `items` after a home placeholder and read them back to verify."""
        if not items:
            return invalid("empty mission")
        target = await self._target()
        if target is None:
            return NO_AUTOPILOT
        full = [self._home_placeholder(), *items]
        self.mission = None  # whatever the autopilot had is being replaced, maybe in part
        upload = MissionUpload(target, self.timing, full)
        uploaded = await self._run(upload)
        if not upload.all_sent:
            return uploaded
        read_back, stored = await self._read_back(target)
        if not read_back.ok:
            return read_back if uploaded.ok else uploaded
        difference = first_difference(full, stored)
        if difference is not None:
            return failed(difference) if uploaded.ok else uploaded
        self.mission = full
        return completed(f"{len(items)} items uploaded and verified")

    async def download_mission(self) -> tuple[Result, list[MissionItem]]:
        """The autopilot's mission (item 0 is home), read with the mission protocol."""
        target = await self._target()
        if target is None:
            return NO_AUTOPILOT, []
        return await self._read_back(target)

    async def _read_back(self, target: Target) -> tuple[Result, list[MissionItem]]:
        for _ in range(READ_BACK_ATTEMPTS):
            download = MissionDownload(target, self.timing)
            result = await self._run(download)
            if result.outcome != event.EVENT_OUTCOME_TIMEOUT:
                break
        return result, list(download.items)

    async def start_mission(self, takeoff_alt: float | None) -> Result:
        """Fly the uploaded mission from item 1, taking off first if on the ground.

        A copter takes off in GUIDED to `takeoff_alt`; a plane from the mission's own
        NAV_TAKEOFF item (vehicle_kind.py puts one first); a rover just drives.
        """
        target = await self._target()
        if target is None:
            return NO_AUTOPILOT
        state = self.state
        kind = kind_of(state.vehicle_type)
        if kind is None:
            reason = f"start: MAV_TYPE {state.vehicle_type} is no copter, plane or rover"
            return Result(event.EVENT_OUTCOME_UNSUPPORTED, reason)
        if kind is VehicleKind.COPTER:
            result = await self._copter_ready(target, takeoff_alt)
        else:
            result = await self._armed_at_item_1(target)
        if result.ok:
            result = await self._set_mode(target, "AUTO")
        return completed("mission started in AUTO") if result.ok else result

    async def _copter_ready(self, target: Target, takeoff_alt: float | None) -> Result:
        """In the air (taking off in GUIDED if on the ground), item 1 current."""
        if not self.state.airborne:
            if takeoff_alt is None or takeoff_alt <= 0:
                return failed("on the ground and no takeoff altitude")
            result = await self._take_off(target, takeoff_alt)
            if not result.ok:
                return result
        self.state.clear_progress()
        return await self._run(SetCurrentItem(target, self.timing, 1))

    async def _armed_at_item_1(self, target: Target) -> Result:
        """Plane and rover: item 1 current, then armed (in the mode they are in). ArduPlane
        and ArduRover start the mission, a plane's takeoff too, on entering AUTO armed."""
        self.state.clear_progress()
        result = await self._run(SetCurrentItem(target, self.timing, 1))
        if result.ok and not self.state.armed:
            result = await self._run(Arm(target, self.timing))
        return result

    async def _take_off(self, target: Target, altitude: float) -> Result:
        result = await self._set_mode(target, "GUIDED")
        if result.ok and not self.state.armed:
            result = await self._run(Arm(target, self.timing))
        if result.ok:
            result = await self._run(Takeoff(target, self.timing, altitude))
        return result

    async def jump(self, seq: int) -> Result:
        """Continue the mission from item `seq` (1 is the first after home)."""
        if seq < 1:
            return invalid("item 0 is home")
        if self.mission is not None and seq >= len(self.mission):
            return invalid(f"no item {seq} in a {len(self.mission) - 1}-item mission")
        target = await self._target()
        if target is None:
            return NO_AUTOPILOT
        return await self._run(SetCurrentItem(target, self.timing, seq))

    # -- flight --------------------------------------------------------------------------

    async def abort(self, action: AbortAction) -> Result:
        """RTL, LAND, or hold where it is, confirmed by HEARTBEAT.

        RTL on every kind. LAND on a copter only: ArduPlane and ArduRover have no LAND
        mode (a plane lands from a mission landing sequence). Hold: HOLD on a rover,
        GUIDED on a copter (hovers) or a plane (circles where it is).
        """
        target = await self._target()
        if target is None:
            return NO_AUTOPILOT
        kind = kind_of(self.state.vehicle_type)
        if action is AbortAction.LAND and kind is not VehicleKind.COPTER:
            name = "this vehicle" if kind is None else f"a {kind.value}"
            reason = f"LAND: {name} has no LAND mode; use RTL or HOLD"
            return Result(event.EVENT_OUTCOME_UNSUPPORTED, reason)
        if action is not AbortAction.HOLD:
            return await self._set_mode(target, action.name)  # RTL, LAND
        if kind is VehicleKind.ROVER:
            return await self._set_mode(target, "HOLD")
        state = self.state
        if state.mode == "GUIDED" and state.lat is not None and state.lon is not None:
            # Already GUIDED (flying to a retask point): setting GUIDED again would not
            # stop it, so the hold point is where it is now.
            result = await self._reposition(target, state.lat, state.lon, state.alt_rel or 0.0)
            return completed(f"holding at {state.lat:.5f},{state.lon:.5f}") if result.ok else result
        return await self._set_mode(target, "GUIDED")

    async def retask(self, lat: float, lon: float, alt: float) -> Result:
        """Fly to `lat`, `lon` (degrees), `alt` (m above home) in GUIDED and hold there."""
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not math.isfinite(alt):
            return invalid("retask position out of range")
        target = await self._target()
        if target is None:
            return NO_AUTOPILOT
        if not self.state.armed:
            return failed("retask: vehicle is not flying")
        result = await self._set_mode(target, "GUIDED")
        if not result.ok:
            return result
        return await self._reposition(target, lat, lon, alt)

    async def _reposition(self, target: Target, lat: float, lon: float, alt: float) -> Result:
        params = [
            -1,  # ground speed: the vehicle's default
            0,  # no MAV_DO_REPOSITION_FLAGS_CHANGE_MODE: if it left GUIDED, it stays out
            0,
            math.nan,  # yaw: keep the current heading mode
            round(lat * 1e7),
            round(lon * 1e7),
            alt,
        ]
        command = CommandRequest(
            target,
            self.timing,
            event.MAV_CMD_DO_REPOSITION,
            params,
            label="reposition",
            frame=event.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
        )
        result = await self._run(command)
        return completed(f"to {lat:.5f},{lon:.5f} at {alt:.0f} m") if result.ok else result

    async def _set_mode(self, target: Target, name: str) -> Result:
        vehicle_type = self.state.vehicle_type
        number = None if vehicle_type is None else mode_number(vehicle_type, name)
        if number is None:
            return Result(event.EVENT_OUTCOME_UNSUPPORTED, f"vehicle has no {name} mode")
        return await self._run(ModeChange(target, self.timing, number, name))

    # -- parameters ----------------------------------------------------------------------

    async def set_param(self, name: str, value: float, param_type: int) -> Result:
        """Set parameter `name`, confirmed by the PARAM_VALUE the autopilot sends back."""
        if not name or not name.isascii() or len(name) > NAME_BYTES:
            return invalid("parameter name must be 1-16 ASCII chars")
        problem = value_problem(value, param_type)
        if problem is not None:
            return invalid(problem)
        target = await self._target()
        if target is None:
            return NO_AUTOPILOT
        return await self._run(ParamSet(target, self.timing, name, value, param_type))

    # -- helpers -------------------------------------------------------------------------

    def _home_placeholder(self) -> MissionItem:
        """Item 0: ArduPilot's home. Its own home if known, else where the vehicle is.

        ArduPilot writes item 0 to its home slot and sets home again when it arms, so
        the best value is the one it already has; zeros only if nothing is known yet.
        """
        state = self.state
        if state.home is not None:
            lat, lon, alt = state.home
        elif state.lat is not None and state.lon is not None:
            lat, lon, alt = state.lat, state.lon, state.alt_amsl or 0.0
        else:
            lat = lon = alt = 0.0
        return MissionItem(
            command=event.MAV_CMD_NAV_WAYPOINT,
            frame=event.MAV_FRAME_GLOBAL,
            x=round(lat * 1e7),
            y=round(lon * 1e7),
            z=alt,
        )
