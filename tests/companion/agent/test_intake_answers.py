"""The agent answers its detector: "stored" once a line's detection is committed, a refused
line with its reason, and never more bytes than it was sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from companion.agent.detection import DetectionReport
from companion.outbox import OutboxFull
from dialects import event
from tests.companion.agent.test_agent_e2e import DISK, World, world
from tests.companion.security.fleet import NOW_WALL, Fleet

TIME = NOW_WALL + 0.25
"""A detection's own time, as a detector on the vehicle would stamp it."""


def detection(track_id: int, **extra: Any) -> str:
    return json.dumps(
        {"class_id": 3, "confidence": 0.9, "bbox": [1, 2, 3, 4], "track_id": track_id, **extra}
    )


async def exchange(w: World, data: bytes, sock: trio.socket.SocketType) -> bytes:
    """Send `data` to the agent's intake; its answer, as the agent's counters stood then."""
    port = w.agent.detection_port
    assert port is not None
    await sock.sendto(data, ("127.0.0.1", port))
    with trio.fail_after(600):
        return await sock.recv(65535)


async def test_stored_comes_once_committed_and_names_the_detection(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    async with world(fleet, tmp_path) as w:
        data = "\n".join(
            [detection(21, time=TIME), "{not json: a line the agent refuses", detection(22)]
        ).encode()
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            reply = await exchange(w, data, sock)
            committed = w.agent.sync.counters["submitted"]
            with trio.fail_after(600):
                while len(detections(w)) < 2:
                    await trio.sleep(1)
    answers = [json.loads(line) for line in reply.splitlines()]
    assert answers[0] == {"stored": True, "time": int(TIME * 1000), "track_id": 21}
    assert answers[1] == {"stored": False, "error": "not JSO"}, "cut to its line's 35 bytes"
    assert answers[2] == {"stored": True, "track_id": 22}
    assert committed == 2, "both were in the outbox before the answer left"
    assert len(reply) <= len(data)
    times = {d.track_id: d.time for d in detections(w)}
    assert times[21] == answers[0]["time"], "the answer names the time the detection carries"
    assert w.agent.intake.answered == {"stored": 2, "refused": 1}


async def test_a_time_beyond_the_dialect_is_refused_and_the_agent_goes_on(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    async with world(fleet, tmp_path) as w:
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            refused = await exchange(w, detection(5, time=1e300).encode(), sock)
            stored = await exchange(w, detection(6, time=TIME).encode(), sock)
    assert json.loads(refused) == {"stored": False, "error": "'time' must be below 9007199254741"}
    assert json.loads(stored)["stored"] is True


async def test_short_refused_lines_get_no_answer_larger_than_themselves(
    fleet: Fleet, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = DISK
    async with world(fleet, tmp_path) as w:
        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            port = w.agent.detection_port
            assert port is not None
            for _ in range(3):
                await sock.sendto(b"x\n", ("127.0.0.1", port))
            reply = await exchange(w, b"[" + b" " * 60 + b"]", sock)
    assert reply == b'{"stored":false,"error":"a detection is a JSON object, not "}\n'
    assert len(reply) == 62, "exactly the size of the line it answers"
    assert w.agent.intake.answered == {"left_out": 3, "refused": 1}


def detections(w: World) -> list[Any]:
    return [
        a.messages[0]
        for a in w.ground.stack.arrived
        if a.messages[0].get_msgId() == event.MAVLINK_MSG_ID_EVENT_DETECTION
    ]


async def test_a_detection_the_outbox_has_no_room_for_is_refused_and_the_intake_goes_on(
    fleet: Fleet,
    mock_clock: trio.testing.MockClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mock_clock.autojump_threshold = DISK
    async with world(fleet, tmp_path) as w:

        async def full(report: DetectionReport) -> int:
            raise OutboxFull("outbox holds 1 messages")

        with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            with monkeypatch.context() as patch:
                patch.setattr(w.agent, "report_detection", full)
                refused = await exchange(w, detection(8, time=TIME).encode(), sock)
            stored = await exchange(w, detection(9, time=TIME).encode(), sock)
    assert json.loads(refused) == {
        "stored": False,
        "error": "outbox full: outbox holds 1 messages",
    }
    assert json.loads(stored)["stored"] is True
    assert w.agent.intake.counters == {"accepted": 1, "refused": 1}
    assert w.agent.intake.refused_by == {"outbox_full": 1}
