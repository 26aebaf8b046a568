"""Priorities match the dialect; the ACK-required set and defaults are the documented ones."""

from __future__ import annotations

import pytest

from companion.errors import LocalProtocolError
from companion.reliability.priority import ACK_REQUIRED, TTL, Priority, default_priority
from dialects import event


def test_priorities_match_the_dialect_and_the_seed_ttls() -> None:
    assert [int(p) for p in Priority] == [0, 1, 2, 3]
    assert Priority.CRITICAL == event.EVENT_PRIORITY_CRITICAL
    assert Priority.LOW == event.EVENT_PRIORITY_LOW
    assert [TTL[p] for p in Priority] == [5.0, 30.0, 300.0, 3600.0]


def test_every_ack_required_type_carries_a_seq() -> None:
    assert event.MAVLINK_MSG_ID_EVENT_PARAM_UPDATE in ACK_REQUIRED
    assert event.MAVLINK_MSG_ID_EVENT_TELEMETRY not in ACK_REQUIRED
    for msgid in ACK_REQUIRED:
        assert event.mavlink_map[msgid].fieldnames[0] == "seq"


def test_default_priorities() -> None:
    assert default_priority(event.MAVLINK_MSG_ID_EVENT_MISSION_ABORT) is Priority.CRITICAL
    assert default_priority(event.MAVLINK_MSG_ID_EVENT_DETECTION) is Priority.HIGH
    assert default_priority(event.MAVLINK_MSG_ID_EVENT_PARAM_UPDATE) is Priority.MEDIUM
    assert default_priority(event.MAVLINK_MSG_ID_EVENT_BULK_HEADER) is Priority.LOW
    with pytest.raises(LocalProtocolError):
        default_priority(event.MAVLINK_MSG_ID_EVENT_FRAGMENT)
