"""The .tlog is what MAVProxy writes: pymavlink reads it back, frames and times."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from pymavlink import mavutil

from companion.autopilot.tlog import TlogWriter
from dialects import event
from tests.companion.autopilot.fc import (
    GUIDED,
    TARGET,
    US,
    US_COMPONENT,
    frame_from_fc,
    heartbeat,
    waypoints,
)

START = 1_750_000_000.25


def test_pymavlink_reads_back_both_directions_with_their_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # mavutil switches itself to MAVLink 2 on the first 0xFD frame by setting MAVLINK20 in
    # the environment; monkeypatch puts the environment back afterwards.
    monkeypatch.setenv("MAVLINK20", "1")
    path = tmp_path / "flight.tlog"
    ours = event.MAVLink(None, US, US_COMPONENT)
    sent = [
        frame_from_fc(heartbeat(GUIDED, armed=True)),
        waypoints(1)[0].to_message(TARGET, 1).pack(ours),
        frame_from_fc(event.MAVLink_statustext_message(6, b"Mission: 1 WP", 0, 0)),
    ]
    with TlogWriter(path) as tlog:
        for n, frame in enumerate(sent):
            tlog.record(frame, START + n * 0.5)
        assert tlog.frames == 3
    log = mavutil.mavlink_connection(str(path))
    try:
        read = []
        while (message := log.recv_match()) is not None:
            read.append(message)
    finally:
        log.close()
    assert [m.get_type() for m in read] == ["HEARTBEAT", "MISSION_ITEM_INT", "STATUSTEXT"]
    assert [m._timestamp for m in read] == pytest.approx([START, START + 0.5, START + 1.0])
    assert read[0].custom_mode == GUIDED
    assert (read[1].get_srcSystem(), read[1].x) == (US, waypoints(1)[0].x)
    assert read[2].text == "Mission: 1 WP"


def test_each_frame_is_prefixed_by_big_endian_microseconds(tmp_path: Path) -> None:
    path = tmp_path / "one.tlog"
    frame = frame_from_fc(heartbeat())
    with TlogWriter(path) as tlog:
        tlog.record(frame, START)
    data = path.read_bytes()
    assert struct.unpack(">Q", data[:8])[0] == int(START * 1e6)
    assert data[8:] == frame


def test_a_restart_appends_to_the_same_log(tmp_path: Path) -> None:
    path = tmp_path / "two.tlog"
    frame = frame_from_fc(heartbeat())
    for run in range(2):
        with TlogWriter(path) as tlog:
            tlog.record(frame, START + run)
    assert path.read_bytes().count(frame) == 2


def test_frames_are_flushed_as_they_come_once_a_second(tmp_path: Path) -> None:
    path = tmp_path / "live.tlog"
    frame = frame_from_fc(heartbeat())
    with TlogWriter(path, flush_interval=1.0) as tlog:
        tlog.record(frame, START)
        assert path.stat().st_size == 8 + len(frame)  # the first one at once
        tlog.record(frame, START + 0.5)
        assert path.stat().st_size == 8 + len(frame)  # buffered
        tlog.record(frame, START + 1.0)
        assert path.stat().st_size == 3 * (8 + len(frame))
