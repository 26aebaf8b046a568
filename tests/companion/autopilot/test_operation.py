"""The retry helpers every operation shares: wait, resend `retries` times, then fail."""

from __future__ import annotations

from typing import Any

import pytest

from companion.autopilot.operation import Operation, Target, Timing
from companion.autopilot.result import Result, rejected, timed_out
from dialects import event
from tests.companion.autopilot.fc import TARGET, TIMING

TIMEOUT = 0.4


class Probe(Operation):
    """Test double: the smallest operation built on the retry helpers. It sends a PING
    whose seq is the number of resends so far and is never answered."""

    label = "probe"

    def __init__(self, failure: Result, target: Target = TARGET, timing: Timing = TIMING) -> None:
        super().__init__(target, timing)
        self.failure = failure

    def start(self, now: float) -> list[Any]:
        self.expect_answer(now, TIMEOUT)
        return [self._ping()]

    def receive(self, message: Any, now: float) -> list[Any]:
        return []

    def on_timer(self, now: float) -> list[Any]:
        if not self.timer_due(now):
            return []
        return self.resend_or_fail(now, TIMEOUT, self._ping, self.failure)

    def _ping(self) -> Any:
        return event.MAVLink_ping_message(0, self.resends, self.target.system, 0)


def fire(op: Operation, limit: int = 20) -> list[tuple[float, int]]:
    """Fire the timers (at most `limit` times) until `op` ends: (time, PING seq) of each
    resend."""
    resent: list[tuple[float, int]] = []
    for _ in range(limit):
        deadline = op.next_deadline()
        if deadline is None:
            return resent
        resent += [(deadline, ping.seq) for ping in op.on_timer(deadline)]
    raise AssertionError(f"{op.label} still running after {limit} timers")


def test_resends_retries_times_then_ends_with_the_failure_given() -> None:
    probe = Probe(rejected("probe: nobody home"))
    (first,) = probe.start(10.0)
    assert first.seq == 0
    resent = fire(probe)
    assert [seq for _, seq in resent] == [1, 2, 3, 4, 5]
    assert [at for at, _ in resent] == pytest.approx([10.4, 10.8, 11.2, 11.6, 12.0])
    assert probe.resends == TIMING.retries
    assert probe.result == rejected("probe: nobody home")
    assert probe.next_deadline() is None


def test_nothing_happens_before_the_deadline_or_after_the_end() -> None:
    probe = Probe(timed_out("probe: no PING"))
    probe.start(0.0)
    assert not probe.timer_due(TIMEOUT - 0.01)
    assert probe.on_timer(TIMEOUT - 0.01) == []
    assert probe.timer_due(TIMEOUT)
    fire(probe)
    assert probe.done
    assert not probe.timer_due(100.0)
    assert probe.on_timer(100.0) == []
    assert probe.resends == TIMING.retries


def test_a_new_request_gets_all_its_retries_again() -> None:
    probe = Probe(timed_out("probe: no PING"))
    probe.start(0.0)
    probe.on_timer(TIMEOUT)
    probe.on_timer(2 * TIMEOUT)
    probe.expect_answer(2.5 * TIMEOUT, TIMEOUT)
    resent = fire(probe)
    assert len(resent) == TIMING.retries
    assert resent[0][0] == pytest.approx(3.5 * TIMEOUT)
    assert probe.resends == 2 + TIMING.retries


def test_retries_come_from_the_timing() -> None:
    probe = Probe(timed_out("probe: no PING"), timing=Timing(retries=1))
    probe.start(0.0)
    assert [seq for _, seq in fire(probe)] == [1]
    assert probe.result == timed_out("probe: no PING")


def test_a_timeout_while_the_link_is_down_says_the_autopilot_was_not_there() -> None:
    probe = Probe(timed_out("probe: no PING"))
    probe.start(0.0)
    probe.link_up = False
    fire(probe)
    assert probe.result is not None
    assert probe.result.outcome == event.EVENT_OUTCOME_AUTOPILOT_UNAVAILABLE
    assert probe.result.reason == "probe: autopilot link lost"
