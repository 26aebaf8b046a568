"""Sessions: handshakes, sealing and every refusal, one node pair at a time (no medium)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from companion.link import SigningClock
from companion.security.certificate import Role
from companion.security.session_sender import REKEY_AFTER
from dialects import event
from tests.samples import detection, sample_message

from .fleet import NOW_WALL, Fleet


def abort(seq: int = 1) -> Any:
    return event.MAVLink_event_mission_abort_message(seq, 7, event.EVENT_ABORT_ACTION_RTL)


class Pair:
    """A ground station and a UAV, frames passed by hand so each can be lost or altered."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.gs = fleet.manager(255, Role.GROUND_STATION)
        self.uav = fleet.manager(3, Role.UAV)
        self.now = 0.0

    def wall(self) -> float:
        return NOW_WALL + self.now

    def exchange(self) -> list[tuple[int, list[str]]]:
        """Deliver frames both ways until quiet; return (receiver, message types) delivered."""
        out: list[tuple[int, list[str]]] = []
        while True:
            moved = False
            for sender, receiver in ((self.gs, self.uav), (self.uav, self.gs)):
                for frame in sender.frames_to_send():
                    moved = True
                    for d in receiver.receive(frame, self.now, self.wall()):
                        out.append((receiver.node_id, [m.get_type() for m in d.messages]))
            if not moved:
                return out

    def connect(self) -> None:
        self.gs.send(3, [event.MAVLink_event_heartbeat_message(1, 2, 0)], 2, self.now, self.wall())
        self.exchange()
        assert self.gs.established(3)
        assert self.uav.established(255)


@pytest.fixture
def pair(fleet: Fleet) -> Pair:
    return Pair(fleet)


def test_first_message_waits_for_the_handshake_then_arrives(pair: Pair) -> None:
    pair.gs.send(3, [abort()], 0, pair.now, pair.wall())
    frames = pair.gs.frames_to_send()
    assert [f.get_type() for f in frames] == ["EVENT_HANDSHAKE"]
    response = pair.uav.receive(frames[0], pair.now, pair.wall())
    assert response == []
    delivered = [d for f in pair.uav.frames_to_send() for d in pair.gs.receive(f, 0, pair.wall())]
    assert delivered == []
    (envelope,) = pair.gs.frames_to_send()
    (got,) = pair.uav.receive(envelope, pair.now, pair.wall())
    assert (got.src, got.priority, got.messages[0].get_type()) == (255, 0, "EVENT_MISSION_ABORT")
    assert got.certificate.role is Role.GROUND_STATION


def test_both_directions_and_bundles(pair: Pair) -> None:
    pair.connect()
    pair.uav.send(255, [detection(1), detection(2)], 1, pair.now, pair.wall())
    pair.gs.send(3, [abort(5)], 0, pair.now, pair.wall())
    assert sorted(pair.exchange()) == [
        (3, ["EVENT_MISSION_ABORT"]),
        (255, ["EVENT_DETECTION", "EVENT_DETECTION"]),
    ]


def sealed(pair: Pair) -> Any:
    pair.connect()
    pair.uav.send(255, [detection()], 1, pair.now, pair.wall())
    (frame,) = pair.uav.frames_to_send()
    return frame


def test_tampered_ciphertext_is_refused(pair: Pair) -> None:
    frame = sealed(pair)
    frame.data[3] ^= 0x20
    assert pair.gs.receive(frame, 0, pair.wall()) == []
    assert pair.gs.counters["bad_tag"] == 1


@pytest.mark.parametrize("field", ["counter", "meta"])
def test_tampered_associated_data_is_refused(pair: Pair, field: str) -> None:
    frame = sealed(pair)
    if field == "counter":
        frame.counter[0] ^= 0x01
    else:
        frame.meta ^= 0x01
    assert pair.gs.receive(frame, 0, pair.wall()) == []
    assert pair.gs.counters["bad_tag"] == 1


def test_tampered_source_finds_no_session(pair: Pair) -> None:
    frame = sealed(pair)
    frame.src = 4
    assert pair.gs.receive(frame, 0, pair.wall()) == []
    assert pair.gs.counters["no_session"] == 1


def test_hop_count_and_next_hop_may_change_on_the_way(pair: Pair) -> None:
    frame = sealed(pair)
    frame.meta -= 1 << 4
    frame.next_hop = 7
    assert len(pair.gs.receive(frame, 0, pair.wall())) == 1


def test_wrong_key_is_refused(pair: Pair, fleet: Fleet) -> None:
    frame = sealed(pair)
    impostor = Pair(fleet)  # other sessions, other keys, same node ids
    impostor.connect()
    assert impostor.gs.receive(frame, 0, pair.wall()) == []
    assert impostor.gs.counters["bad_tag"] == 1


def test_truncated_envelope_is_refused(pair: Pair) -> None:
    frame = sealed(pair)
    data = bytes(frame.data).rstrip(b"\x00")
    frame.data = list(data[:-5]) + [0] * (248 - len(data) + 5)
    assert pair.gs.receive(frame, 0, pair.wall()) == []
    assert pair.gs.counters["bad_tag"] == 1


def test_envelope_too_short_for_a_tag_is_truncated(pair: Pair) -> None:
    frame = sealed(pair)
    frame.data = frame.data[:12] + [0] * (248 - 12)
    assert pair.gs.receive(frame, 0, pair.wall()) == []
    assert pair.gs.counters["truncated_envelope"] == 1


@given(st.data())
@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_change_to_an_envelope_but_its_hops_is_refused(
    fleet: Fleet, data: st.DataObject
) -> None:
    pair = Pair(fleet)
    frame = sealed(pair)
    field = data.draw(st.sampled_from(["counter", "src", "dst", "meta", "data"]))
    if field in ("counter", "data"):
        array = getattr(frame, field)
        array[data.draw(st.integers(0, len(array) - 1))] ^= data.draw(st.integers(1, 255))
    elif field == "meta":
        frame.meta ^= data.draw(st.integers(1, 0x0F))  # the authenticated low bits
    else:
        setattr(frame, field, getattr(frame, field) ^ data.draw(st.integers(1, 255)))
    assert pair.gs.receive(frame, 0, pair.wall()) == []
    assert sum(pair.gs.counters.values()) > 0


@given(st.integers(0, 2**32), st.sampled_from(["EVENT_ENVELOPE", "EVENT_HANDSHAKE"]))
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_frames_never_raise(fleet: Fleet, seed: int, name: str) -> None:
    gs = fleet.manager(255, Role.GROUND_STATION)
    rng = random.Random(seed)
    message = sample_message(getattr(event, f"MAVLink_{name.lower()}_message"), rng)
    message.dst = 255 if rng.random() < 0.9 else message.dst
    assert gs.receive(message, 0, NOW_WALL) == []


def test_replay_inside_and_outside_the_window(pair: Pair) -> None:
    first = sealed(pair)
    assert len(pair.gs.receive(first, 0, pair.wall())) == 1
    assert pair.gs.receive(first, 0, pair.wall()) == []
    assert pair.gs.counters["replay"] == 1
    for i in range(1100):
        pair.uav.send(255, [detection(i)], 1, pair.now, pair.wall())
    for frame in pair.uav.frames_to_send():
        pair.gs.receive(frame, 0, pair.wall())
    assert pair.gs.receive(first, 0, pair.wall()) == []
    assert pair.gs.counters["outside_window"] == 1


def test_sender_revoked_after_the_session_began(pair: Pair, fleet: Fleet) -> None:
    frame = sealed(pair)
    fleet.revoke(pair.uav.identity.certificate.serial, pair.gs.revocations)
    (got,) = pair.gs.receive(frame, 0, pair.wall())
    assert got.refusal == event.EVENT_OUTCOME_CERT_REVOKED
    assert pair.gs.counters["revoked_sender"] == 1


def test_sender_expired_after_the_session_began(pair: Pair) -> None:
    frame = sealed(pair)
    later = pair.uav.identity.certificate.expires + 1.0
    (got,) = pair.gs.receive(frame, 0, later)
    assert got.refusal == event.EVENT_OUTCOME_CERT_EXPIRED
    assert pair.gs.counters["expired_sender"] == 1


def test_expired_initiator_is_rejected_with_a_reason(fleet: Fleet) -> None:
    gs = fleet.manager(255, Role.GROUND_STATION)
    old = fleet.manager(9, Role.UAV, valid_for=60)
    late = NOW_WALL + 120
    old.send(255, [detection()], 1, 0, late)
    (init,) = old.frames_to_send()
    gs.receive(init, 0, late)
    assert gs.counters["handshake_expired_certificate"] == 1
    (reject,) = gs.frames_to_send()
    old.receive(reject, 0, late)
    assert old.rejections == {255: event.EVENT_OUTCOME_CERT_EXPIRED}
    assert old.counters["queue_dropped"] == 1


def test_revoked_initiator_is_rejected_with_a_reason(fleet: Fleet) -> None:
    gs = fleet.manager(255, Role.GROUND_STATION)
    uav = fleet.manager(3, Role.UAV)
    fleet.revoke(uav.identity.certificate.serial, gs.revocations)
    uav.send(255, [detection()], 1, 0, NOW_WALL)
    gs.receive(uav.frames_to_send()[0], 0, NOW_WALL)
    assert gs.counters["handshake_revoked_certificate"] == 1
    uav.receive(gs.frames_to_send()[0], 0, NOW_WALL)
    assert uav.rejections == {255: event.EVENT_OUTCOME_CERT_REVOKED}


def test_certificate_from_another_authority_is_refused(fleet: Fleet) -> None:
    gs = fleet.manager(255, Role.GROUND_STATION)
    stranger = Fleet().manager(3, Role.UAV)
    stranger.send(255, [detection()], 1, 0, NOW_WALL)
    gs.receive(stranger.frames_to_send()[0], 0, NOW_WALL)
    assert gs.counters["handshake_bad_certificate"] == 1
    assert gs.frames_to_send() == []


def test_certificate_of_someone_else_is_refused(pair: Pair) -> None:
    pair.uav.send(255, [detection()], 1, 0, NOW_WALL)
    (init,) = pair.uav.frames_to_send()
    init.src = 4  # claims to be node 4 with node 3's certificate
    pair.gs.receive(init, 0, NOW_WALL)
    assert pair.gs.counters["handshake_identity_mismatch"] == 1


def test_handshake_signature_covers_the_ephemeral_key(pair: Pair) -> None:
    pair.uav.send(255, [detection()], 1, 0, NOW_WALL)
    (init,) = pair.uav.frames_to_send()
    init.ephemeral[0] ^= 1
    pair.gs.receive(init, 0, NOW_WALL)
    assert pair.gs.counters["handshake_bad_signature"] == 1


def test_replayed_init_after_a_newer_one_is_refused(pair: Pair) -> None:
    pair.uav.send(255, [detection()], 1, 0, NOW_WALL)
    (old_init,) = pair.uav.frames_to_send()
    pair.gs.receive(old_init, 0, NOW_WALL)
    newer = pair.fleet.manager(3, Role.UAV, clock=pair.uav.clock, identity=pair.uav.identity)
    newer.send(255, [detection()], 1, 0, NOW_WALL)
    pair.gs.receive(newer.frames_to_send()[0], 0, NOW_WALL)
    pair.gs.frames_to_send()
    pair.gs.receive(old_init, 0, NOW_WALL)
    assert pair.gs.counters["handshake_replay"] == 1
    assert pair.gs.frames_to_send() == []


def test_duplicate_init_gets_the_same_response(pair: Pair) -> None:
    pair.uav.send(255, [detection()], 1, 0, NOW_WALL)
    (init,) = pair.uav.frames_to_send()
    pair.gs.receive(init, 0, NOW_WALL)
    (first,) = pair.gs.frames_to_send()
    pair.gs.receive(init, 0, NOW_WALL)
    (again,) = pair.gs.frames_to_send()
    assert again is first
    assert pair.gs.counters["handshake_duplicate"] == 1


def test_response_without_init_and_out_of_order(pair: Pair) -> None:
    pair.uav.send(255, [detection()], 1, 0, NOW_WALL)
    (init,) = pair.uav.frames_to_send()
    pair.gs.receive(init, 0, NOW_WALL)
    (response,) = pair.gs.frames_to_send()
    pair.gs.receive(response, 0, NOW_WALL)  # a RESPONSE sent back to its author
    third = pair.fleet.manager(3, Role.UAV)
    third.receive(response, 0, NOW_WALL)  # a RESPONSE to an INIT this node never sent
    assert third.counters["handshake_unexpected"] == 1
    assert pair.gs.counters["not_for_me"] == 1
    pair.uav.receive(response, 0, NOW_WALL)
    pair.uav.receive(response, 0, NOW_WALL)  # replayed RESPONSE
    assert pair.uav.counters["handshake_completed"] == 1
    assert pair.uav.counters["handshake_unexpected"] == 1


def test_retransmissions_wait_once_while_the_handshake_runs(pair: Pair) -> None:
    for _ in range(3):
        pair.uav.send(255, [detection(1)], 1, 0, NOW_WALL)
    assert pair.uav.counters["queue_duplicate"] == 2
    assert pair.exchange() == [(255, ["EVENT_DETECTION"])]


def test_lost_init_is_retransmitted(pair: Pair) -> None:
    pair.uav.send(255, [detection()], 1, 0, NOW_WALL)
    (lost,) = pair.uav.frames_to_send()
    deadline = pair.uav.next_deadline()
    assert deadline == 2.0
    pair.uav.on_timer(deadline, NOW_WALL + deadline)
    (again,) = pair.uav.frames_to_send()
    assert again is lost


def test_simultaneous_initiation_converges(pair: Pair) -> None:
    pair.gs.send(3, [abort()], 0, 0, NOW_WALL)
    pair.uav.send(255, [detection()], 1, 0, NOW_WALL)
    delivered = pair.exchange()
    assert sorted(delivered) == [(3, ["EVENT_MISSION_ABORT"]), (255, ["EVENT_DETECTION"])]
    assert pair.gs.counters["handshake_collision"] + pair.uav.counters["handshake_collision"] == 1


def test_rekey_by_time_keeps_traffic_flowing(pair: Pair) -> None:
    pair.connect()
    for minute in range(0, 130, 5):
        pair.now = minute * 60.0
        pair.uav.send(255, [detection(minute)], 1, pair.now, pair.wall())
        assert pair.exchange() == [(255, ["EVENT_DETECTION"])]
    assert pair.uav.counters["handshake_initiated"] >= 130 * 60 // REKEY_AFTER


def test_rekey_by_count(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("companion.security.session_sender.REKEY_AFTER_MESSAGES", 10)
    pair.connect()
    for i in range(35):
        pair.uav.send(255, [detection(i)], 1, pair.now, pair.wall())
        assert pair.exchange() == [(255, ["EVENT_DETECTION"])]
    assert pair.uav.counters["handshake_initiated"] == 3  # at 10, 20 and 30 messages


def test_rebooted_node_recovers_without_help(pair: Pair) -> None:
    pair.connect()
    rebooted = pair.fleet.manager(
        3, Role.UAV, identity=pair.uav.identity, clock=SigningClock(restored=pair.uav.clock.now(0))
    )
    pair.uav = rebooted
    pair.gs.send(3, [abort(2)], 0, pair.now, pair.wall())  # under the old session: unreadable
    pair.exchange()
    assert rebooted.counters["no_session"] == 1
    pair.gs.send(3, [abort(3)], 0, pair.now, pair.wall())
    assert pair.exchange() == [(3, ["EVENT_MISSION_ABORT"])]
