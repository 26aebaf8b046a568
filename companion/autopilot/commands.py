"""MAVLink commands to ArduPilot, sans-IO, each confirmed by what the autopilot reports.

https://mavlink.io/en/services/command.html: COMMAND_LONG (or COMMAND_INT when the
command carries a position) is answered by COMMAND_ACK for the same command id.

Rules:
- No COMMAND_ACK within the response timeout: resend (COMMAND_LONG with `confirmation`
  counting up, as the spec asks); after `retries` resends, TIMEOUT. MAV_RESULT_IN_PROGRESS
  restarts the wait. Any result but ACCEPTED ends with AUTOPILOT_REJECTED and its
  MAV_RESULT name.
- An ACK is not the effect. A mode change is done when HEARTBEAT shows the mode; arming
  when HEARTBEAT shows the armed flag; a takeoff when the vehicle has climbed to 90% of
  the altitude; a MISSION_SET_CURRENT when MISSION_CURRENT shows the item. A HEARTBEAT
  that already shows the effect counts even if the ACK was lost.
- ArduPilot can override a mode we set (RC input becoming valid in the first seconds
  applies the flight-mode switch): if, after an accepted change, HEARTBEAT keeps showing
  another mode, the result is FAILED with the mode it is in. We do not set it again:
  the companion never fights the autopilot.
- A refused arming waits briefly for the STATUSTEXT that explains it (ArduPilot sends
  the ACK first) and reports NOT_ARMABLE with that text, or NO_GPS_FIX when the text is
  about GPS or the position estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from dialects import event

from .modes import mode_name
from .operation import Operation, Target, Timing
from .result import Result, completed, failed, mav_result_name, rejected, timed_out
from .vehicle_state import text_of

TAKEOFF_REACHED = 0.9
"""Fraction of the takeoff altitude at which the climb counts as done."""
CLIMB_RATE_FLOOR = 0.5
"""m/s: the slowest climb we wait for (ArduPilot climbs at WPNAV_SPEED_UP, 2.5 m/s)."""
CLIMB_MARGIN = 10.0
"""Seconds added to the climb time for spooling up."""

GPS_REASONS = ("GPS", "POSITION ESTIMATE")
"""Words in a STATUSTEXT refusal that mean no 3D fix or no EKF position (NO_GPS_FIX)."""


class Phase(Enum):
    WAIT_ACK = "waiting for COMMAND_ACK"
    CONFIRM = "waiting for the effect"
    EXPLAIN = "waiting for the refusal's STATUSTEXT"


class CommandRequest(Operation):
    """One command, done when ACCEPTED. Subclasses add a confirmation after the ACK."""

    def __init__(
        self,
        target: Target,
        timing: Timing,
        command: int,
        params: Sequence[float],
        *,
        label: str,
        frame: int | None = None,
    ) -> None:
        """`params` are param1..7; with `frame`, the command goes as COMMAND_INT and
        params 5 and 6 are latitude and longitude in degE7."""
        super().__init__(target, timing)
        if len(params) != 7:
            raise ValueError("a command has 7 params")
        self.command = command
        self.params = list(params)
        self.frame = frame
        self.label = label
        self.phase = Phase.WAIT_ACK
        self.ack_result: int | None = None
        """MAV_RESULT of the last COMMAND_ACK; None while none arrived."""

    def start(self, now: float) -> list[Any]:
        self.phase = Phase.WAIT_ACK
        self.expect_answer(now, self.timing.response_timeout)
        return [self._message()]

    def receive(self, message: Any, now: float) -> list[Any]:
        if self.done:
            return []
        if (
            self.phase is Phase.WAIT_ACK
            and message.get_msgId() == event.MAVLINK_MSG_ID_COMMAND_ACK
            and message.command == self.command
        ):
            self._on_ack(message.result, now)
        else:
            self.observe(message, now)
        return []

    def on_timer(self, now: float) -> list[Any]:
        if not self.timer_due(now):
            return []
        if self.phase is not Phase.WAIT_ACK:
            self.on_phase_timeout(now)
            return []
        # The resent COMMAND_LONG carries the resend count as its `confirmation`.
        no_ack = timed_out(f"{self.label}: no COMMAND_ACK")
        return self.resend_or_fail(now, self.timing.response_timeout, self._message, no_ack)

    # -- hooks for subclasses ------------------------------------------------------------

    def on_accepted(self, now: float) -> None:
        self.finish(completed())

    def on_refused(self, result: int, now: float) -> None:
        self.finish(rejected(f"{self.label}: {mav_result_name(result)}"))

    def observe(self, message: Any, now: float) -> None:
        """Any other message from the vehicle (HEARTBEAT, STATUSTEXT, ...)."""

    def on_phase_timeout(self, now: float) -> None:
        """The deadline of a phase after the ACK passed."""

    def wait(self, phase: Phase, seconds: float, now: float) -> None:
        self.phase = phase
        self._deadline = now + seconds

    # -- internals -----------------------------------------------------------------------

    def _on_ack(self, result: int, now: float) -> None:
        self.ack_result = result
        if result == event.MAV_RESULT_ACCEPTED:
            self.on_accepted(now)
        elif result == event.MAV_RESULT_IN_PROGRESS:
            self.expect_answer(now, self.timing.response_timeout)
        else:
            self.on_refused(result, now)

    def _message(self) -> Any:
        t = self.target
        p = self.params
        if self.frame is None:
            confirmation = min(self._attempts, 255)
            return event.MAVLink_command_long_message(
                t.system, t.component, self.command, confirmation, *p
            )
        return event.MAVLink_command_int_message(
            t.system,
            t.component,
            self.frame,
            self.command,
            0,
            0,
            p[0],
            p[1],
            p[2],
            p[3],
            int(p[4]),
            int(p[5]),
            p[6],
        )


class ModeChange(CommandRequest):
    """MAV_CMD_DO_SET_MODE to an ArduPilot mode, confirmed by HEARTBEAT.custom_mode."""

    def __init__(self, target: Target, timing: Timing, custom_mode: int, name: str) -> None:
        params = [event.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, custom_mode, 0, 0, 0, 0, 0]
        super().__init__(target, timing, event.MAV_CMD_DO_SET_MODE, params, label=f"mode {name}")
        self.custom_mode = custom_mode
        self.name = name
        self._seen: str | None = None

    def on_accepted(self, now: float) -> None:
        self.wait(Phase.CONFIRM, self.timing.confirm, now)

    def observe(self, message: Any, now: float) -> None:
        if message.get_msgId() != event.MAVLINK_MSG_ID_HEARTBEAT:
            return
        if message.custom_mode == self.custom_mode:
            self.finish(completed(f"mode {self.name}"))
        elif self.phase is Phase.CONFIRM:
            self._seen = mode_name(message.type, message.custom_mode)

    def on_phase_timeout(self, now: float) -> None:
        if self._seen is None:
            self.finish(timed_out(f"mode {self.name} not seen in HEARTBEAT"))
        else:
            self.finish(failed(f"mode is {self._seen}, not {self.name}"))


class Arm(CommandRequest):
    """MAV_CMD_COMPONENT_ARM_DISARM (arm), confirmed by HEARTBEAT's armed flag."""

    def __init__(self, target: Target, timing: Timing) -> None:
        params = [1, 0, 0, 0, 0, 0, 0]
        super().__init__(target, timing, event.MAV_CMD_COMPONENT_ARM_DISARM, params, label="arm")
        self._texts: list[str] = []
        self._refusal: int | None = None

    def on_accepted(self, now: float) -> None:
        self.wait(Phase.CONFIRM, self.timing.confirm, now)

    def on_refused(self, result: int, now: float) -> None:
        self._refusal = result
        self.wait(Phase.EXPLAIN, self.timing.grace, now)

    def observe(self, message: Any, now: float) -> None:
        msgid = message.get_msgId()
        if msgid == event.MAVLINK_MSG_ID_STATUSTEXT:
            self._texts.append(text_of(message.text))
            if self.phase is Phase.EXPLAIN and _is_arming_text(self._texts[-1]):
                self._explain()
        elif (
            msgid == event.MAVLINK_MSG_ID_HEARTBEAT
            and self.phase is not Phase.EXPLAIN
            and message.base_mode & event.MAV_MODE_FLAG_SAFETY_ARMED
        ):
            self.finish(completed("armed"))

    def on_phase_timeout(self, now: float) -> None:
        if self.phase is Phase.EXPLAIN:
            self._explain()
        else:
            self.finish(timed_out("arming not seen in HEARTBEAT"))

    def _explain(self) -> None:
        self.finish(arming_refusal(self._texts, self._refusal or event.MAV_RESULT_FAILED))


def _is_arming_text(text: str) -> bool:
    return text.startswith(("PreArm", "Arm"))


def arming_refusal(texts: Sequence[str], result: int) -> Result:
    """NOT_ARMABLE (or NO_GPS_FIX) with the autopilot's own words for why."""
    reasons = [text for text in texts if _is_arming_text(text)] or list(texts)
    reason = reasons[-1] if reasons else f"arming refused: {mav_result_name(result)}"
    if any(word in reason.upper() for word in GPS_REASONS):
        return Result(event.EVENT_OUTCOME_NO_GPS_FIX, reason)
    return Result(event.EVENT_OUTCOME_NOT_ARMABLE, reason)


class Takeoff(CommandRequest):
    """MAV_CMD_NAV_TAKEOFF (in GUIDED), done once the vehicle climbed near `altitude`."""

    def __init__(self, target: Target, timing: Timing, altitude: float) -> None:
        params = [0, 0, 0, 0, 0, 0, altitude]
        super().__init__(target, timing, event.MAV_CMD_NAV_TAKEOFF, params, label="takeoff")
        self.altitude = altitude

    def on_accepted(self, now: float) -> None:
        self.wait(Phase.CONFIRM, self.altitude / CLIMB_RATE_FLOOR + CLIMB_MARGIN, now)

    def observe(self, message: Any, now: float) -> None:
        msgid = message.get_msgId()
        if msgid == event.MAVLINK_MSG_ID_GLOBAL_POSITION_INT:
            # Counts before the ACK too: if the ACK was lost, a resent NAV_TAKEOFF would
            # be refused by a copter already in the air.
            if message.relative_alt / 1000 >= self.altitude * TAKEOFF_REACHED:
                self.finish(completed(f"climbed to {message.relative_alt / 1000:.0f} m"))
        elif (
            msgid == event.MAVLINK_MSG_ID_HEARTBEAT
            and self.phase is Phase.CONFIRM
            and not message.base_mode & event.MAV_MODE_FLAG_SAFETY_ARMED
        ):
            self.finish(failed("disarmed during takeoff"))

    def on_phase_timeout(self, now: float) -> None:
        self.finish(timed_out(f"takeoff: not at {self.altitude:.0f} m"))


class SetCurrentItem(Operation):
    """MISSION_SET_CURRENT, confirmed by MISSION_CURRENT showing the item."""

    def __init__(self, target: Target, timing: Timing, seq: int) -> None:
        super().__init__(target, timing)
        self.seq = seq
        self.label = f"jump to item {seq}"
        self._seen: int | None = None

    def start(self, now: float) -> list[Any]:
        self.expect_answer(now, self.timing.response_timeout)
        return [self._message()]

    def receive(self, message: Any, now: float) -> list[Any]:
        if not self.done and message.get_msgId() == event.MAVLINK_MSG_ID_MISSION_CURRENT:
            if message.seq == self.seq:
                self.finish(completed(f"current item {self.seq}"))
            else:
                self._seen = message.seq
        return []

    def on_timer(self, now: float) -> list[Any]:
        if not self.timer_due(now):
            return []
        if self._seen is None:
            failure = timed_out(f"{self.label}: no MISSION_CURRENT")
        else:
            failure = rejected(f"{self.label}: current item stayed {self._seen}")
        return self.resend_or_fail(now, self.timing.response_timeout, self._message, failure)

    def _message(self) -> Any:
        return event.MAVLink_mission_set_current_message(
            self.target.system, self.target.component, self.seq
        )
