"""`python -m sitl.demo`'s options: what it refuses before starting anything."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sitl.demo.__main__ import main
from sitl.demo.runner import DemoOptions


def refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_ardupilot_vehicles_without_binaries_are_refused_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    said = refusal(["--vehicles", "ardupilot", "--ardupilot-dir", str(tmp_path)], capsys)
    assert f"{tmp_path}/arducopter is not an executable arducopter" in said
    for name in ("EVENT_ARDUPILOT_DIR", "EVENT_ARDUPILOT_BINARY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(sys.modules, "dronekit_sitl", None)  # as here: not installed
    said = refusal(["--vehicles", "ardupilot", "--out", str(tmp_path / "run")], capsys)
    assert "set EVENT_ARDUPILOT_BINARY" in said
    assert not (tmp_path / "run").exists(), "nothing started"


def test_every_kind_named_needs_its_binary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copter = tmp_path / "arducopter"
    copter.write_text("#!/bin/sh\n")
    copter.chmod(0o755)
    argv = ["--vehicles", "ardupilot", "--ardupilot-dir", str(tmp_path), "--kinds"]
    said = refusal([*argv, "copter,rover"], capsys)
    assert "ardurover is not an executable ardurover" in said


def test_kinds_are_checked_and_fill_with_copters(capsys: pytest.CaptureFixture[str]) -> None:
    assert "'boat' is not one of copter, plane, rover" in refusal(
        ["--kinds", "copter,boat"], capsys
    )
    said = refusal(["--uavs", "4", "--kinds", "copter,copter,copter,copter,plane"], capsys)
    assert "--kinds names 5 vehicles for 4 UAVs" in said
    options = DemoOptions(out=Path("x"), kinds=("plane", "rover"))
    assert [options.kind(n) for n in (1, 2, 3, 4)] == ["plane", "rover", "copter", "copter"]
