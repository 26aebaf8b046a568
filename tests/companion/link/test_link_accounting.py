"""Every datagram the radio gives the link is accounted for once, and the log says what
was refused within limits (`Link.datagrams_*`, `link/drop_report.py`)."""

from __future__ import annotations

import logging

import pytest

from companion.link import Drop
from companion.link.drop_report import DropReport
from companion.log_limit import LogLimiter
from tests.samples import detection

from .helpers import NOW, OTHER_KEY, pair

LOGGER = "test.radio"


def test_each_datagram_is_accepted_or_refused_under_one_reason() -> None:
    uav, gs = pair()
    good = uav.send(detection(1), NOW)
    _, stranger = pair(OTHER_KEY)
    datagrams = [
        good,
        good,  # a replay
        b"\x00" * 40,  # no STX at all
        b"",
        good[:20],
        stranger.send(detection(2), NOW),
        uav.send(detection(3), NOW) + b"\xfd\x09garbage",  # a frame, then junk
        bytes([0xFD]) + good[1:12] + b"\xff" + good[13:],  # bad checksum
    ]
    for datagram in datagrams:
        gs.receive_datagram(datagram, NOW)
    assert gs.datagrams_received == len(datagrams)
    assert gs.datagrams_accepted == 2
    assert gs.datagrams_refused == {
        Drop.REPLAY: 1,
        Drop.NOISE: 2,
        Drop.TRUNCATED: 1,
        Drop.BAD_SIGNATURE: 1,
        Drop.BAD_CRC: 1,
    }
    status = gs.status()
    assert status["datagrams_refused"]["noise"] == 2
    assert status["drops"]["noise"] == 2
    assert status["drops"]["truncated"] == 2  # one of them inside an accepted datagram


def test_a_reason_is_logged_at_once_then_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    _, gs = pair()
    report = DropReport(gs.drops, logging.getLogger(LOGGER))
    caplog.set_level(logging.WARNING, LOGGER)
    for second in range(100):
        gs.receive_datagram(b"noise", NOW)
        report.after_input(float(second))
    gs.receive_datagram(b"\xfd\x01", NOW)
    report.after_input(100.0)
    assert caplog.messages == [
        "event=radio_drop reason=noise total=1",
        "event=radio_drop reason=noise total=61 suppressed=59",
        "event=radio_drop reason=truncated total=1",
    ]


def test_the_summary_counts_by_reason_since_the_last_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, gs = pair()
    report = DropReport(gs.drops, logging.getLogger(LOGGER))
    caplog.set_level(logging.WARNING, LOGGER)
    report.summarise(60.0)
    for datagram in (b"noise", b"noise", b"\xfd\x01"):
        gs.receive_datagram(datagram, NOW)
    report.summarise(60.0)
    report.summarise(60.0)
    gs.receive_datagram(b"noise", NOW)
    report.summarise(60.0)
    assert caplog.messages == [
        "event=radio_drops_summary period=60 total=3 truncated=1 noise=2",
        "event=radio_drops_summary period=60 total=1 noise=1",
    ]


def test_a_limiter_key_has_its_own_limit(caplog: pytest.LogCaptureFixture) -> None:
    limiter = LogLimiter(logging.getLogger(LOGGER), interval=10.0)
    caplog.set_level(logging.INFO, LOGGER)
    assert limiter.log(logging.INFO, 0.0, "drop", key="a")
    assert limiter.log(logging.INFO, 1.0, "drop", key="b")
    assert not limiter.log(logging.INFO, 2.0, "drop", key="a")
    assert limiter.log(logging.INFO, 10.0, "drop", key="a")
    assert caplog.messages == ["event=drop", "event=drop", "event=drop suppressed=1"]
