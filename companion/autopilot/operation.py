"""What every exchange with the flight controller looks like, and how long it may take.

An `Operation` is a sans-IO state machine for one request to the autopilot (a command,
a mission transfer, a parameter write). It is fed the vehicle's messages and the time,
returns the messages to send, and ends with a `Result`.

Rules:
- `start`, `receive`, `on_timer`, `on_reboot` and `cancel` return the messages to send
  now (pymavlink message objects; the caller frames them). `receive`
  only ever sees messages from the flight controller that are addressed to us or to
  everyone (the connection filters).
- `next_deadline()` is when `on_timer` must be called next; None once done.
- A request waits for its answer with `expect_answer`; when the deadline passes
  (`timer_due`), `resend_or_fail` sends it again, up to `Timing.retries` times, then ends
  the operation with the failure the operation names.
- Once `result` is set it never changes, and nothing more is sent.
- Timeouts follow the MAVLink mission protocol's defaults (1500 ms for a response,
  250 ms for a mission item, 5 retries: https://mavlink.io/en/services/mission.html),
  multiplied by `Timing.slowdown` on a slow link (a 57600 baud radio shared with other
  traffic), which the caller sets from the link it has.
- A lost link (no HEARTBEAT for a while) does not end an operation: on a lossy radio a
  few heartbeats in a row go missing, and the operation's own retries may still get
  through. If it times out while the link is down, the result says AUTOPILOT_UNAVAILABLE
  instead of TIMEOUT: the autopilot was not there to answer.
- A reboot ends an operation with FAILED, unless the operation knows how to start over
  (a mission upload does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dialects import event

from .result import Result, failed, unavailable


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """Timeouts and retries of the exchanges with the flight controller."""

    response: float = 1.5
    """Seconds to wait for the answer to a request (COMMAND_ACK, MISSION_REQUEST, ...)."""
    item: float = 0.25
    """Seconds to wait for a mission item we requested while downloading."""
    retries: int = 5
    """Resends after the first attempt before giving up."""
    slowdown: float = 1.0
    """Multiplies `response` and `item`: more than 1 on a slow or busy link."""
    confirm: float = 3.0
    """Seconds (not scaled) to see an accepted mode change or arming in HEARTBEAT,
    which ArduPilot sends once a second."""
    statustext_grace: float = 0.5
    """Seconds (scaled) to wait after a refusal for the STATUSTEXT that explains it:
    ArduPilot queues STATUSTEXT and sends the COMMAND_ACK at once, so the reason can
    arrive after the refusal."""

    @property
    def response_timeout(self) -> float:
        return self.response * self.slowdown

    @property
    def item_timeout(self) -> float:
        return self.item * self.slowdown

    @property
    def grace(self) -> float:
        return self.statustext_grace * self.slowdown


@dataclass(frozen=True, slots=True)
class Target:
    """The flight controller's system and component ids (the addressee of requests)."""

    system: int
    component: int


class Operation:
    """Base of the sans-IO exchanges. Subclasses implement `start` and `receive`."""

    label = "operation"
    """Short name used in reasons, e.g. `mode GUIDED`, `mission upload`."""

    def __init__(self, target: Target, timing: Timing) -> None:
        self.target = target
        self.timing = timing
        self.result: Result | None = None
        self.link_up = True
        """False while the connection has lost the autopilot's HEARTBEAT."""
        self.resends = 0
        """Requests sent again because their answer did not come in time."""
        self._deadline: float | None = None
        self._attempts = 0
        """Resends of the request now waiting for its answer."""

    @property
    def done(self) -> bool:
        return self.result is not None

    def next_deadline(self) -> float | None:
        return None if self.done else self._deadline

    def start(self, now: float) -> list[Any]:
        raise NotImplementedError

    def receive(self, message: Any, now: float) -> list[Any]:
        raise NotImplementedError

    def on_timer(self, now: float) -> list[Any]:
        raise NotImplementedError

    def on_reboot(self, now: float) -> list[Any]:
        """The autopilot restarted: whatever it had accepted of this request is gone."""
        self.finish(failed(f"{self.label}: autopilot rebooted"))
        return []

    def cancel(self, now: float) -> list[Any]:
        """Our side gave up (a preempting command); say so to the autopilot if it cares."""
        self.finish(failed(f"{self.label}: cancelled"))
        return []

    def expect_answer(self, now: float, timeout: float) -> None:
        """A new request went out: its answer is due within `timeout`, resends counted anew."""
        self._attempts = 0
        self._deadline = now + timeout

    def timer_due(self, now: float) -> bool:
        """True if `on_timer` has work to do: not done, and the deadline has passed."""
        return not self.done and self._deadline is not None and now >= self._deadline

    def resend_or_fail(
        self, now: float, timeout: float, message: Callable[[], Any], failure: Result
    ) -> list[Any]:
        """The answer is late: resend `message()` (built once the resend is counted) and
        wait `timeout` again; after `timing.retries` resends, end with `failure`."""
        if self._attempts >= self.timing.retries:
            self.finish(failure)
            return []
        self._attempts += 1
        self.resends += 1
        self._deadline = now + timeout
        return [message()]

    def finish(self, result: Result) -> None:
        if self.result is not None:
            return
        if result.outcome == event.EVENT_OUTCOME_TIMEOUT and not self.link_up:
            result = unavailable(f"{self.label}: autopilot link lost")
        self.result = result
        self._deadline = None
