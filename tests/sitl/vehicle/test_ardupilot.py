"""Real ArduPilot SITL: the launcher's process handling (with a stand-in executable that
prints what SITL prints), and the double's smoke test against a real arducopter when
`EVENT_ARDUPILOT_BINARY` names one."""

from __future__ import annotations

import json
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio

from dialects import event
from sitl.vehicle.ardupilot import (
    ENV_BINARY,
    ENV_DIR,
    SYSID_NAME,
    ArduPilotUnavailable,
    SitlConfig,
    SitlFailed,
    find_binary,
    free_instances,
    running_sitl,
    skip_reason,
)
from sitl.vehicle.ardupilot_defaults import Vehicle

from . import HOME, Companion, waypoint

STAND_IN = """#!{python}
import json, signal, sys, time
signal.signal(signal.SIGTERM, {on_term})
with open("argv.json", "w") as argv:
    json.dump(sys.argv[1:], argv)
print("{line}", flush=True)
time.sleep(600)
"""


def stand_in(tmp_path: Path, *, line: str, on_term: str = "signal.SIG_DFL") -> Path:
    """An executable that logs `line` as SITL would and waits to be terminated."""
    path = tmp_path / "arducopter"
    path.write_text(STAND_IN.format(python=sys.executable, line=line, on_term=on_term))
    path.chmod(0o755)
    return path


def test_command_line_sets_instance_model_home_defaults_sysid_and_wipe(tmp_path: Path) -> None:
    config = SitlConfig(
        tmp_path / "arducopter", instance=2, system_id=7, defaults=tmp_path / "copter.parm"
    )
    command = config.command(tmp_path)
    assert config.port == 5780
    assert command == [
        str(tmp_path / "arducopter"),
        "-I",
        "2",
        "--model",
        "quad",
        "--home",
        "-35.363261,149.16523,584.0,0.0",
        "--defaults",
        ",".join(str(tmp_path / n) for n in ("event-defaults.parm", "copter.parm", SYSID_NAME)),
        "--sysid",
        "7",
        "--speedup",
        "1.0",
        "-w",
    ]
    older = SitlConfig(tmp_path / "arducopter", system_id=7, version=(4, 6)).command(tmp_path)
    assert "--sysid" not in older, "SITL before 4.7 has no --sysid"
    rover = SitlConfig(tmp_path / "ardurover", vehicle=Vehicle.ROVER).command(tmp_path)
    assert rover[rover.index("--model") + 1] == "rover"


def test_the_projects_own_minimal_defaults_per_vehicle(tmp_path: Path) -> None:
    SitlConfig(tmp_path / "arducopter", system_id=9).write_params(tmp_path)
    copter = (tmp_path / "event-defaults.parm").read_text().splitlines()
    assert copter[:2] == ["FRAME_CLASS 1", "FRAME_TYPE 0"]
    assert "INS_ACCOFFS_X 0.001" in copter
    assert "INS_ACC2OFFS_Z 0.001" in copter
    assert (tmp_path / SYSID_NAME).read_text() == "MAV_SYSID 9\n"
    SitlConfig(tmp_path / "arduplane", vehicle=Vehicle.PLANE).write_params(tmp_path)
    plane = (tmp_path / "event-defaults.parm").read_text()
    assert "FRAME_CLASS" not in plane
    assert "INS_ACCOFFS_X 0.001" in plane


def test_find_binary_takes_the_argument_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = stand_in(tmp_path, line="x")
    monkeypatch.delenv(ENV_DIR, raising=False)
    assert find_binary(binary) == binary
    monkeypatch.setenv(ENV_BINARY, str(binary))
    assert find_binary() == binary
    assert skip_reason() is None
    monkeypatch.setenv(ENV_BINARY, str(tmp_path / "missing"))
    with pytest.raises(ArduPilotUnavailable, match="not an executable"):
        find_binary()
    monkeypatch.delenv(ENV_BINARY)
    monkeypatch.setitem(sys.modules, "dronekit_sitl", None)  # as here: not installed
    with pytest.raises(ArduPilotUnavailable, match=ENV_BINARY):
        find_binary()
    assert ENV_DIR in (skip_reason() or "")


def test_find_binary_takes_each_vehicle_from_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_BINARY, raising=False)
    monkeypatch.setenv(ENV_DIR, str(tmp_path))
    copter = stand_in(tmp_path, line="x")
    assert find_binary() == copter
    assert skip_reason(Vehicle.PLANE) is None
    with pytest.raises(ArduPilotUnavailable, match="not an executable arduplane"):
        find_binary(vehicle=Vehicle.PLANE)
    monkeypatch.delenv(ENV_DIR)
    monkeypatch.setenv(ENV_BINARY, str(copter))
    assert ENV_DIR in (skip_reason(Vehicle.ROVER) or ""), "the copter binary is no rover"


async def test_running_sitl_waits_for_the_listening_line_then_terminates(
    tmp_path: Path,
) -> None:
    binary = stand_in(tmp_path, line="SERIAL0 on TCP port 5770\\nWaiting for connection ....")
    config = SitlConfig(binary, instance=1, system_id=3)
    workdir = tmp_path / "run"
    async with running_sitl(config, workdir=workdir, start_timeout=30) as sitl:
        assert sitl.process.poll() is None
        assert sitl.port == 5770
        argv = json.loads((workdir / "argv.json").read_text())
    assert sitl.process.returncode is not None
    assert argv[argv.index("-I") + 1] == "1"
    sysid_file = Path(argv[argv.index("--defaults") + 1].split(",")[-1])
    assert sysid_file.read_text() == "MAV_SYSID 3\n", "ArduPilot 4.7 and later"
    assert "Waiting for connection" in sitl.log.read_text()
    older = SitlConfig(binary, instance=1, system_id=3, version=(4, 6))
    async with running_sitl(older, workdir=workdir, start_timeout=30):
        assert sysid_file.read_text() == "SYSID_THISMAV 3\n"


async def test_a_sitl_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    binary = stand_in(tmp_path, line="Waiting for connection", on_term="signal.SIG_IGN")
    async with running_sitl(SitlConfig(binary), start_timeout=30, stop_timeout=0.5) as sitl:
        pass
    assert sitl.process.returncode == -9


async def test_a_sitl_that_exits_early_is_reported(tmp_path: Path) -> None:
    binary = tmp_path / "arducopter"
    binary.write_text(f"#!{sys.executable}\nprint('bad option')\nraise SystemExit(2)\n")
    binary.chmod(0o755)
    with pytest.raises(SitlFailed, match="exited with status 2:\n  bad option"):
        async with running_sitl(SitlConfig(binary), start_timeout=30):
            pytest.fail("SITL should not have started")


async def test_a_sitl_that_cannot_bind_is_reported_in_its_own_words(tmp_path: Path) -> None:
    line = "bind port 5760 for SERIAL0\\nbind failed on port 5760 - Address already in use"
    with pytest.raises(SitlFailed, match=r"could not start:\n.*\n  bind failed on port 5760"):
        async with running_sitl(SitlConfig(stand_in(tmp_path, line=line)), start_timeout=30):
            pytest.fail("SITL should not have started")


def test_upload_and_fly_smoke_test_on_real_arducopter(tmp_path: Path) -> None:
    """The double's mission smoke test, against the real thing. A plain test that runs trio
    itself, so that the skip reason reaches pytest's summary unwrapped."""
    if reason := skip_reason():
        pytest.skip(reason)
    trio.run(_smoke_test, tmp_path)


def test_four_copters_at_once_each_with_its_system_id(tmp_path: Path) -> None:
    """Four SITL copters side by side, each in its own directory: each one's HEARTBEAT
    carries the system id it was given (set with --sysid and MAV_SYSID)."""
    if reason := skip_reason():
        pytest.skip(reason)
    trio.run(_four_copters, tmp_path)


async def _four_copters(tmp_path: Path) -> None:
    instances = free_instances(4, first=20)
    configs = [
        SitlConfig(find_binary(), instance=n, system_id=40 + i, speedup=5)
        for i, n in enumerate(instances)
    ]
    heard: dict[int, int] = {}
    async with AsyncExitStack() as stack:
        for config in configs:
            workdir = tmp_path / f"copter-{config.system_id}"
            sitl = await stack.enter_async_context(running_sitl(config, workdir=workdir))
            stream = await stack.enter_async_context(
                await trio.open_tcp_stream("127.0.0.1", sitl.port)
            )
            heard[config.system_id] = await _heartbeat_source(stream)
    assert heard == {40: 40, 41: 41, 42: 42, 43: 43}
    assert len({(tmp_path / f"copter-{n}" / "eeprom.bin").stat().st_ino for n in heard}) == 4


async def _heartbeat_source(stream: trio.abc.Stream) -> int:
    """The system id of the first autopilot HEARTBEAT on `stream`."""
    parser = event.MAVLink(None)
    parser.robust_parsing = True  # SITL's console text may precede the MAVLink
    with trio.fail_after(120):
        while True:
            for message in parser.parse_buffer(await stream.receive_some()) or []:
                if message.get_type() == "HEARTBEAT" and message.get_srcComponent() == 1:
                    return int(message.get_srcSystem())


async def _smoke_test(tmp_path: Path) -> None:
    [instance] = free_instances(1, first=3)
    config = SitlConfig(find_binary(), instance=instance, system_id=1, speedup=5)
    async with running_sitl(config, workdir=tmp_path / "sitl") as sitl:
        stream = await trio.open_tcp_stream("127.0.0.1", sitl.port)
        async with stream, trio.open_nursery() as nursery:
            companion = Companion(stream)
            companion.parser.robust_parsing = True  # SITL's console text may precede it
            nursery.start_soon(companion.read_loop)
            await _upload_and_fly(companion)
            nursery.cancel_scope.cancel()


async def _upload_and_fly(companion: Companion) -> None:
    mav = companion.mav
    await companion.send(mav.request_data_stream_encode(1, 1, event.MAV_DATA_STREAM_ALL, 4, 1))
    await companion.wait_ready()
    lat, lon, alt = HOME
    items = [
        waypoint(mav, 0, lat, lon, alt, frame=event.MAV_FRAME_GLOBAL),
        waypoint(mav, 1, lat, lon, 10, command=event.MAV_CMD_NAV_TAKEOFF),
        waypoint(mav, 2, lat + 0.0004, lon, 10),
        waypoint(mav, 3, lat + 0.0004, lon + 0.0005, 10),
        waypoint(mav, 4, 0, 0, 0, command=event.MAV_CMD_NAV_LAND),
    ]
    assert (await companion.upload(items)).type == event.MAV_MISSION_ACCEPTED
    downloaded = await companion.download()
    assert [(m.seq, m.command) for m in downloaded[1:]] == [(m.seq, m.command) for m in items[1:]]
    assert all(
        abs(m.x - i.x) <= 1 and abs(m.y - i.y) <= 1 for m, i in zip(downloaded, items, strict=True)
    )
    # Arming can still be refused for a while after the EKF reports a position.
    with trio.fail_after(120):
        while await companion.set_mode("GUIDED") or await companion.arm():
            await trio.sleep(1)
    ack = await companion.command(event.MAV_CMD_MISSION_START)
    assert ack.result == event.MAV_RESULT_ACCEPTED
    reached = [(await companion.next("MISSION_ITEM_REACHED", timeout=300)).message.seq]
    while reached[-1] < 3:
        reached.append((await companion.next("MISSION_ITEM_REACHED", timeout=300)).message.seq)
    await companion.next("STATUSTEXT", lambda m: m.text == "Mission: 4 Land", timeout=300)
    await companion.disarmed()
    current = await companion.next("MISSION_CURRENT", fresh=True)
    # The landing item is never reported reached: landed, the copter disarms and the
    # mission goes back to item 1 (tests/sitl/vehicle/test_double_flight.py pins it).
    assert reached == [1, 2, 3]
    assert not [
        h
        for h in companion.heard
        if h.message.get_type() == "MISSION_ITEM_REACHED" and h.message.seq == 4
    ]
    assert current.message.seq == 1
