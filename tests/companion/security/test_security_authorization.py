"""Zero trust at the receiving node: the sender's certificate decides, message by message."""

from __future__ import annotations

from typing import Any

from companion.security.authorization import REQUIRED, Authorizer
from companion.security.certificate import Operation, Role
from companion.security.session import Delivered
from dialects import event
from tests.samples import detection, event_classes

from .fleet import Fleet


def abort(seq: int) -> Any:
    return event.MAVLink_event_mission_abort_message(seq, 7, event.EVENT_ABORT_ACTION_RTL)


def from_node(
    fleet: Fleet, role: Role, messages: list[Any], refusal: int | None = None
) -> Delivered:
    keys = fleet.identity(9, role)
    return Delivered(9, keys.certificate, messages, 0, refusal)


def test_every_inner_message_needs_an_operation() -> None:
    inner = {cls.id for cls in event_classes() if cls.id < 24120}
    assert set(REQUIRED) == inner


def test_uav_cannot_abort_and_is_told_why(fleet: Fleet) -> None:
    authorizer = Authorizer()
    decision = authorizer.decide(from_node(fleet, Role.UAV, [abort(4), detection(5)]))
    assert [m.get_type() for m in decision.accepted] == ["EVENT_DETECTION"]
    (ack,) = decision.refusal_acks
    assert (ack.seq, ack.msg_type, ack.outcome) == (
        4,
        event.EVENT_MSG_TYPE_MISSION_ABORT,
        event.EVENT_OUTCOME_DENIED,
    )
    assert authorizer.counters == {"denied": 1}


def test_ground_station_may_abort(fleet: Fleet) -> None:
    decision = Authorizer().decide(from_node(fleet, Role.GROUND_STATION, [abort(4)]))
    assert len(decision.accepted) == 1
    assert decision.refusal_acks == []


def test_least_privilege_certificate(fleet: Fleet) -> None:
    _, keys = fleet.authority.issue(
        12, Role.COMMAND, Operation.RETASK, valid_for=3600, now=1_780_000_000.0
    )
    decision = Authorizer().decide(Delivered(12, keys.certificate, [abort(1)], 0))
    assert decision.accepted == []


def test_revoked_sender_is_refused_for_everything(fleet: Fleet) -> None:
    authorizer = Authorizer()
    delivered = from_node(
        fleet, Role.GROUND_STATION, [abort(1), detection(2)], event.EVENT_OUTCOME_CERT_REVOKED
    )
    decision = authorizer.decide(delivered)
    assert decision.accepted == []
    assert [a.outcome for a in decision.refusal_acks] == [event.EVENT_OUTCOME_CERT_REVOKED] * 2
    assert authorizer.counters == {"cert_revoked": 2}
