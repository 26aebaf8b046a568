"""Final outcomes repeated with status reports, further and further apart, for minutes,
across restarts (companion/agent/running.py)."""

from __future__ import annotations

from pathlib import Path

from companion.agent.running import REPEAT_AT, RunningCommands
from dialects import event

GS = 255
PARAM = (GS, 40, event.EVENT_MSG_TYPE_PARAM_UPDATE)


def reports_that_repeat(ledger: RunningCommands, reports: int) -> list[int]:
    """Which of the next `reports` status reports carry the outcome again (1-based)."""
    return [n for n in range(1, reports + 1) if ledger.repeat()]


def test_an_outcome_is_repeated_for_minutes_then_let_go(tmp_path: Path) -> None:
    ledger = RunningCommands(tmp_path / "running.json")
    ledger.started(PARAM)
    ledger.finished(PARAM, event.EVENT_OUTCOME_COMPLETED, "WPNAV_SPEED=500")
    assert reports_that_repeat(ledger, 60) == sorted(REPEAT_AT)
    assert max(REPEAT_AT) * 10 >= 6 * 60  # at a status every 10 s: six minutes and more
    assert ledger.outcomes == []


def test_the_schedule_goes_on_after_a_restart(tmp_path: Path) -> None:
    """A ground station restarting again and again for a minute missed the first
    repeats; an agent restart meanwhile keeps the rest coming."""
    path = tmp_path / "running.json"
    ledger = RunningCommands(path)
    ledger.started(PARAM)
    ledger.finished(PARAM, event.EVENT_OUTCOME_FAILED, "interrupted: agent restarted")
    first = reports_that_repeat(ledger, 10)
    again, interrupted = RunningCommands.interrupted(path)
    assert interrupted == []
    later = [n + 10 for n in reports_that_repeat(again, 50)]
    assert first + later == sorted(REPEAT_AT)
    assert RunningCommands.interrupted(path)[0].outcomes == []  # all said: let go of
