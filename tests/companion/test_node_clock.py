"""The node clock: steady through wall-clock jumps, continued across restarts, never back."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from companion.node_clock import CHECKPOINT_EVERY, Checkpoint, NodeClock, resume

WALL = 1_780_000_000.0


class Wall:
    """A wall clock the test sets and jumps: it follows trio's clock plus `offset`."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return WALL + self.offset + trio.current_time()


def test_first_start_reads_the_wall_clock() -> None:
    assert resume(None, WALL) == (WALL, 0.0)


def test_a_restart_counts_the_downtime_the_wall_clock_reports() -> None:
    assert resume(Checkpoint(clock=500.0, wall=WALL), WALL + 60) == (560.0, 60.0)


def test_a_wall_clock_that_went_back_while_down_counts_no_downtime() -> None:
    assert resume(Checkpoint(clock=500.0, wall=WALL), WALL - 3600) == (500.0, 0.0)


@pytest.mark.parametrize("text", ["", "1 2 3", "x 1", "nan 1", "-5 1", "inf 1"])
def test_a_checkpoint_that_is_not_two_finite_numbers_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"fields|finite|could not convert"):
        Checkpoint.decode(text)


async def test_wall_clock_jumps_while_running_change_nothing(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    wall = Wall()
    clock = NodeClock.open(tmp_path / "node.clock", wall)
    start = clock()
    await trio.sleep(10)
    wall.offset = -3600  # NTP, GPS time or an operator puts the wall clock an hour back
    await trio.sleep(5)
    wall.offset = +7200
    await trio.sleep(5)
    assert clock() - start == pytest.approx(20.0)


async def test_restart_continues_from_the_checkpoint_plus_downtime(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    path = tmp_path / "node.clock"
    wall = Wall(offset=300.0)  # this node's wall clock is five minutes fast: no matter
    first = NodeClock.open(path, wall)
    await trio.sleep(42)
    first.save()
    before = first()
    await trio.sleep(100)  # the node is off for 100 s
    second = NodeClock.open(path, wall)
    assert second() - before == pytest.approx(100.0)
    assert second.counters["wall_went_back"] == 0


async def test_restart_after_the_wall_clock_went_back_never_runs_backwards(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    path = tmp_path / "node.clock"
    wall = Wall()
    first = NodeClock.open(path, wall)
    await trio.sleep(30)
    first.save()
    before = first()
    wall.offset = -86_400  # a Raspberry Pi without RTC boots a day in the past
    second = NodeClock.open(path, wall)
    assert second() == pytest.approx(before)
    assert second.counters["wall_went_back"] == 1


async def test_running_clock_checkpoints_so_a_sigkill_loses_no_time(
    mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = 0.05  # real time for the checkpoint's write and fsync
    path = tmp_path / "node.clock"
    wall = Wall()
    async with trio.open_nursery() as nursery:
        clock = NodeClock.open(path, wall)
        nursery.start_soon(clock.run)
        await trio.sleep(CHECKPOINT_EVERY * 3 + 1)
        killed_at = clock()
        nursery.cancel_scope.cancel()  # no save on the way out: as after a SIGKILL
    assert clock.counters["checkpoints"] == 3
    await trio.sleep(20)
    again = NodeClock.open(path, wall)
    assert again() == pytest.approx(killed_at + 20, abs=1e-6)


async def test_an_unreadable_checkpoint_is_counted_and_the_wall_clock_used(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "node.clock"
    path.write_bytes(b"\xff\xfe garbage")
    clock = NodeClock.open(path, Wall())
    assert clock() == pytest.approx(WALL + trio.current_time())
    assert clock.counters["checkpoint_unreadable"] == 1
    assert "node_clock_unreadable" in caplog.text
