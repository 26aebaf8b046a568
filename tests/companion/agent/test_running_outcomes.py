"""Final outcomes repeated with status reports, further and further apart on the node
clock, for 15 minutes, across restarts (companion/agent/running.py)."""

from __future__ import annotations

import json
from pathlib import Path

from companion.agent.running import REPEAT_AFTER, RunningCommands
from dialects import event

GS = 255
PARAM = (GS, 40, event.EVENT_MSG_TYPE_PARAM_UPDATE)


class Clock:
    """A node clock the test sets."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def repeated_at(ledger: RunningCommands, clock: Clock, every: float, until: float) -> list[float]:
    """Seconds after the end at which status reports sent `every` seconds repeated it."""
    start, times = clock.now, []
    while clock.now - start < until:
        clock.now += every
        if ledger.repeat():
            times.append(round(clock.now - start, 1))
    return times


def test_an_outcome_is_repeated_for_fifteen_minutes_whatever_the_status_interval(
    tmp_path: Path,
) -> None:
    """The 60-restart soak: at one status a second, 42 reports were over in 42 s, in the
    middle of the ground station's nine minutes of restarts."""
    for every in (1.0, 10.0):
        clock = Clock()
        ledger = RunningCommands(clock, tmp_path / f"running-{every}.json")
        ledger.started(PARAM)
        ledger.finished(PARAM, event.EVENT_OUTCOME_COMPLETED, "WPNAV_SPEED=500")
        times = repeated_at(ledger, clock, every, 1200.0)
        assert times[-1] >= max(REPEAT_AFTER)
        assert len(times) <= len(REPEAT_AFTER)
        assert ledger.outcomes == []
    assert times[:3] == [10.0, 20.0, 30.0]  # every 10 s: each report carries it at first


def test_the_schedule_goes_on_after_a_restart(tmp_path: Path) -> None:
    """The node clock goes on across the restart (and its downtime): the repeats do too."""
    path, clock = tmp_path / "running.json", Clock()
    ledger = RunningCommands(clock, path)
    ledger.started(PARAM)
    ledger.finished(PARAM, event.EVENT_OUTCOME_FAILED, "interrupted: agent restarted")
    first = repeated_at(ledger, clock, 1.0, 20.0)
    clock.now += 100.0  # down for 100 s
    again, interrupted = RunningCommands.interrupted(path, clock)
    assert interrupted == []
    later = repeated_at(again, clock, 1.0, 1000.0)
    assert first == [1.0, 3.0, 7.0, 15.0]
    assert later[0] == 1.0  # 121 s after the end: due at once (60 and 120 s passed)
    assert len(first) + len(later) < len(REPEAT_AFTER)  # passed times are not caught up
    assert RunningCommands.interrupted(path, clock)[0].outcomes == []


def test_a_ledger_with_an_impossible_repeat_count_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "running.json"
    outcome = [GS, 40, event.EVENT_MSG_TYPE_PARAM_UPDATE, 1, "ok", 5.0, len(REPEAT_AFTER)]
    path.write_text(json.dumps({"running": [], "outcomes": [outcome]}))
    ledger, _ = RunningCommands.interrupted(path, Clock())
    assert ledger.outcomes == []
    assert (tmp_path / "running.json.unreadable").exists()


def test_status_reports_name_each_outcome_being_repeated_in_turn(tmp_path: Path) -> None:
    """A second way to the ground station: the soak saw every repeated EVENT_ACK of one
    outcome lost while that UAV's status reports came through."""
    clock = Clock()
    ledger = RunningCommands(clock, tmp_path / "running.json")
    assert ledger.next_named() is None
    for seq in (40, 41):
        command = (GS, seq, event.EVENT_MSG_TYPE_PARAM_UPDATE)
        ledger.started(command)
        ledger.finished(command, event.EVENT_OUTCOME_COMPLETED, f"done {seq}")
    named = [ledger.next_named() for _ in range(4)]
    assert [(o[1], o[4]) for o in named if o is not None] == [
        (40, "done 40"),
        (41, "done 41"),
        (40, "done 40"),
        (41, "done 41"),
    ]
