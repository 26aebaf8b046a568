"""Group sealing: one broadcast readable by every member, forgeable by none."""

from __future__ import annotations

from typing import Any

import pytest

from companion.security.certificate import Role
from companion.security.envelope import Header, encode_bundle, seal
from companion.security.session import SessionManager
from dialects import event

from .fleet import NOW_WALL, Fleet

FLEET = 0


def abort() -> Any:
    return event.MAVLink_event_mission_abort_message(9, 0, event.EVENT_ABORT_ACTION_RTL)


def pump(
    nodes: list[SessionManager], first: list[tuple[SessionManager, Any]] | None = None
) -> list[tuple[int, int, list[str]]]:
    """Broadcast every frame to every other node until quiet; (receiver, src, types)."""
    out: list[tuple[int, int, list[str]]] = []
    frames = first or []
    while True:
        frames += [(n, f) for n in nodes for f in n.frames_to_send()]
        if not frames:
            return out
        for sender, frame in frames:
            for node in nodes:
                if node is not sender:
                    for d in node.receive(frame, 0.0, NOW_WALL):
                        out.append((node.node_id, d.src, [m.get_type() for m in d.messages]))
        frames = []


@pytest.fixture
def swarm(fleet: Fleet) -> list[SessionManager]:
    return [
        fleet.manager(255, Role.GROUND_STATION),
        fleet.manager(3, Role.UAV),
        fleet.manager(4, Role.UAV),
    ]


def broadcast(swarm: list[SessionManager]) -> Any:
    gs = swarm[0]
    gs.send_group(FLEET, [3, 4], [abort()], 0, 0.0, NOW_WALL)
    frames = gs.frames_to_send()
    (group_envelope,) = [f for f in frames if getattr(f, "meta", 0) & 0x04]
    pump(swarm, [(gs, f) for f in frames if f is not group_envelope])  # handshakes, keys
    return group_envelope


def test_every_member_reads_one_broadcast(swarm: list[SessionManager]) -> None:
    envelope = broadcast(swarm)
    delivered = [(n.node_id, [d.src for d in n.receive(envelope, 0, NOW_WALL)]) for n in swarm[1:]]
    assert delivered == [(3, [255]), (4, [255])]
    assert all(n.counters["group_key_learned"] == 1 for n in swarm[1:])


def test_replayed_broadcast_is_refused(swarm: list[SessionManager]) -> None:
    envelope = broadcast(swarm)
    outsider = swarm[1]
    assert len(outsider.receive(envelope, 0, NOW_WALL)) == 1
    assert outsider.receive(envelope, 0, NOW_WALL) == []
    assert outsider.counters["group_replay"] == 1


def test_non_member_cannot_read(fleet: Fleet, swarm: list[SessionManager]) -> None:
    envelope = broadcast(swarm)
    stranger = fleet.manager(5, Role.UAV)
    assert stranger.receive(envelope, 0, NOW_WALL) == []
    assert stranger.counters["no_group_key"] == 1


def test_tampered_broadcast_is_refused(swarm: list[SessionManager]) -> None:
    envelope = broadcast(swarm)
    envelope.data[0] ^= 1
    assert swarm[1].receive(envelope, 0, NOW_WALL) == []
    assert swarm[1].counters["group_bad_tag"] == 1


def test_a_member_cannot_forge_the_senders_broadcast(swarm: list[SessionManager]) -> None:
    broadcast(swarm)
    _, uav_a, uav_b = swarm
    # UAV 3 holds the ground station's group key: it seals a fake abort "from 255".
    own_key = uav_a.groups._peers[(255, FLEET, 0)]  # the attacker's own copy of the key
    header = Header(counter=50, src=255, dst=FLEET, priority=0, group=True)
    forged_signature = uav_a.identity.signing_key.sign(header.associated_data())
    data = seal(own_key.aead, header, encode_bundle([abort()]) + forged_signature)
    assert data is not None
    padded = list(data) + [0] * (248 - len(data))
    forged = event.MAVLink_event_envelope_message(
        header.counter_bytes(), 255, FLEET, header.meta, 0, padded
    )
    assert uav_b.receive(forged, 0, NOW_WALL) == []
    assert uav_b.counters["group_bad_signature"] == 1


def test_group_keys_only_count_from_pairwise_sessions(swarm: list[SessionManager]) -> None:
    envelope = broadcast(swarm)
    for node in swarm[1:]:
        node.receive(envelope, 0, NOW_WALL)
    smuggled = event.MAVLink_event_group_key_message(int(NOW_WALL) + 99, 7, 1, [1] * 32)
    swarm[0].send_group(FLEET, [3, 4], [smuggled, abort()], 0, 0.0, NOW_WALL)
    pump(swarm)
    assert all(n.counters["group_key_learned"] == 1 for n in swarm[1:])
    assert all((255, 7, 1) not in n.groups._peers for n in swarm[1:])
