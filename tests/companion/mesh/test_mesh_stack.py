"""Sealed traffic across relays: sessions set up and used over a 4-UAV line."""

from __future__ import annotations

from typing import Any

from companion.link import SigningClock
from companion.link.drops import Drop
from companion.link.signing import TICKS_PER_SECOND
from companion.mesh.router import HELLO_INTERVAL
from companion.node import NodeStack
from companion.reliability.events import Acknowledged
from companion.reliability.numbering import SeqNumbering
from companion.reliability.priority import Priority
from dialects import event
from tests.companion.security.fleet import Fleet
from tests.samples import detection

from .stack import LINK_KEY, StackMesh

GS = 255
LINE = [(GS, 1), (1, 2), (2, 3), (3, 4)]


def arrivals(mesh: StackMesh, node: int) -> list[tuple[int, list[str]]]:
    return [(a.src, [m.get_type() for m in a.messages]) for a in mesh.nodes[node].arrived]


def test_far_uav_reaches_the_ground_through_relays_and_back(fleet: Fleet) -> None:
    mesh = StackMesh(fleet, [GS, 1, 2, 3, 4], LINE, gateway=GS)
    mesh.run(10 * HELLO_INTERVAL)
    mesh.nodes[4].send(GS, detection(1), mesh.now, mesh.wall)
    mesh.run(5)
    assert arrivals(mesh, GS) == [(4, ["EVENT_DETECTION"])]
    abort = event.MAVLink_event_mission_abort_message(0, 7, event.EVENT_ABORT_ACTION_RTL)
    mesh.nodes[GS].send(4, abort, mesh.now, mesh.wall)
    mesh.run(5)
    assert arrivals(mesh, 4) == [(GS, ["EVENT_MISSION_ABORT"])]
    relays = [mesh.nodes[n].forwarder.counters["forwarded"] for n in (1, 2, 3)]
    assert all(count >= 2 for count in relays)
    assert mesh.nodes[2].sessions.counters["not_for_me"] == 0  # relays never try to open


def test_store_and_forward_until_a_route_appears(fleet: Fleet) -> None:
    mesh = StackMesh(fleet, [GS, 1, 2], [(GS, 1)], gateway=GS)
    mesh.run(10 * HELLO_INTERVAL)
    lonely = mesh.nodes[2]
    lonely.send(GS, detection(7), mesh.now, mesh.wall)
    mesh.run(5)
    assert lonely.forwarder.stored >= 1  # the handshake waits: no route to the ground
    mesh.links.add(frozenset((1, 2)))
    mesh.run(4 * HELLO_INTERVAL)
    assert lonely.forwarder.counters["released"] >= 1
    assert [a.messages[0].track_id for a in mesh.nodes[GS].arrived] == [7]


def test_stored_frames_expire_at_their_ttl(fleet: Fleet) -> None:
    mesh = StackMesh(fleet, [GS, 2], [], gateway=GS)
    node = mesh.nodes[2]
    abort = event.MAVLink_event_mission_abort_message(0, 7, event.EVENT_ABORT_ACTION_RTL)
    node.send(GS, abort, mesh.now, mesh.wall)
    mesh.run(1)
    assert node.forwarder.stored == 1  # the INIT, HIGH priority: 30 s
    mesh.run(30)
    assert node.forwarder.counters["expired"] >= 1


def mission(waypoints: int) -> tuple[Any, list[Any]]:
    assign = event.MAVLink_event_mission_assign_message(0, 7, waypoints, 1, 80)
    items = []
    for start in range(0, waypoints, 16):
        n = min(16, waypoints - start)
        pad = [0] * (16 - n)
        items.append(
            event.MAVLink_event_mission_items_message(
                7,
                start,
                n,
                [-353632621 + 900 * i for i in range(n)] + pad,
                [1491652374 + 700 * i for i in range(n)] + pad,
                [500] * n + pad,
                [0] * 16,
                [2] * n + pad,
            )
        )
    return assign, items


def test_fifty_waypoint_mission_crosses_three_relays_in_fragments(fleet: Fleet) -> None:
    mesh = StackMesh(fleet, [GS, 1, 2, 3, 4], LINE, gateway=GS)
    mesh.run(10 * HELLO_INTERVAL)
    assign, items = mission(50)
    mesh.nodes[GS].send(4, assign, mesh.now, mesh.wall, attached=tuple(items))
    mesh.run(10)
    (got,) = mesh.nodes[4].arrived
    kinds = [m.get_type() for m in got.messages]
    assert kinds == ["EVENT_MISSION_ASSIGN"] + ["EVENT_MISSION_ITEMS"] * 4
    assert sum(m.count for m in got.messages[1:]) == 50
    assert mesh.nodes[2].forwarder.counters["forwarded"] >= 4  # fragments, passed on one by one


def test_a_command_older_than_its_ttl_is_dropped_and_answered_expired(fleet: Fleet) -> None:
    mesh = StackMesh(fleet, [GS, 1], [(GS, 1)], gateway=GS)
    mesh.run(4 * HELLO_INTERVAL)
    old = event.MAVLink_event_retask_message(0, -353630000, 1491650000, 500, 0, 0, 0, 0)
    fresh = event.MAVLink_event_retask_message(0, -353630000, 1491650000, 500, 0, 0, 0, 0)
    fresh.time = int(mesh.wall) - 3600  # a wall clock an hour behind: no bearing on age
    # HIGH lives 30 s: the old one was held for a minute (in an outbox) before it went.
    old_seq = mesh.nodes[GS].send(1, old, mesh.now, mesh.wall, held=60.0)
    fresh_seq = mesh.nodes[GS].send(1, fresh, mesh.now, mesh.wall)
    mesh.run(3)
    assert [a.messages[0].seq for a in mesh.nodes[1].arrived] == [fresh_seq]
    assert mesh.nodes[1].counters["stale"] == 1
    outcomes = {e.seq: e.outcome for e in mesh.nodes[GS].events if hasattr(e, "outcome")}
    assert outcomes == {
        old_seq: event.EVENT_OUTCOME_EXPIRED,
        fresh_seq: event.EVENT_OUTCOME_ACCEPTED,
    }


def test_a_rebooted_uav_is_heard_again_not_taken_for_duplicates(fleet: Fleet) -> None:
    mesh = StackMesh(fleet, [GS, 1], [(GS, 1)], gateway=GS)
    mesh.run(4 * HELLO_INTERVAL)
    uav = mesh.nodes[1]
    for i in range(1, 4):
        uav.send(GS, detection(i), mesh.now, mesh.wall)
    mesh.run(5)
    # Power cycle: keys and the saved signing clock survive, everything else is new.
    restored = SigningClock(restored=uav.clock.now(mesh.wall))
    mesh.nodes[1] = NodeStack(uav.sessions.identity, LINK_KEY, clock=restored, seed=3)
    mesh.run(4 * HELLO_INTERVAL)
    for i in range(4, 7):
        mesh.nodes[1].send(GS, detection(i), mesh.now, mesh.wall)
    mesh.run(10)
    assert [a.messages[0].track_id for a in mesh.nodes[GS].arrived] == [1, 2, 3, 4, 5, 6]


def test_a_uav_behind_the_fleet_restarted_in_seconds_is_heard_after_every_restart(
    fleet: Fleet,
) -> None:
    """The restart soak's loss: a node whose wall clock is behind the fleet's numbered its
    messages from its fleet time, which after a restart is its restored signing clock and
    stands still; restarts seconds apart reused seqs, and the ground station ACKed new
    detections as duplicates and dropped them. The seq counter is saved like the signing
    clock (here: what a clean stop saves) and runs on."""
    mesh = StackMesh(fleet, [GS, 1], [(GS, 1)], gateway=GS)
    identity = mesh.nodes[1].sessions.identity
    fleet_ahead = mesh.nodes[1].clock.now(mesh.wall) + 10 * 60 * TICKS_PER_SECOND
    saved_stamp, saved_seq = fleet_ahead, None
    tracks = iter(range(1, 100))
    for life in range(3):
        node = NodeStack(
            identity,
            LINK_KEY,
            clock=SigningClock(restored=saved_stamp),
            numbering=SeqNumbering(saved_seq),
            seed=3 + life,
        )
        mesh.nodes[1] = node
        mesh.run(4 * HELLO_INTERVAL)
        for _ in range(3):
            node.send(GS, detection(next(tracks)), mesh.now, mesh.wall)
        mesh.run(5)
        saved_stamp = node.clock.settle() or saved_stamp
        saved_seq = node.reliable.numbering.settle() or saved_seq
    got = [a.messages[0].track_id for a in mesh.nodes[GS].arrived]
    assert got == list(range(1, 10))
    assert mesh.nodes[GS].dedupe.counters["duplicate"] == 0


def test_clocks_ahead_after_restarts_never_make_a_fresh_detection_look_old(
    fleet: Fleet,
) -> None:
    """The reported failure: restarts put a node's signing clock minutes ahead, the
    ground station adopted it, and every fresh detection looked older than 30 s."""
    mesh = StackMesh(fleet, [GS, 1], [(GS, 1)], gateway=GS)
    uav = mesh.nodes[1]
    ahead = SigningClock(restored=uav.clock.now(mesh.wall) + 10 * 60 * TICKS_PER_SECOND)
    mesh.nodes[1] = NodeStack(uav.sessions.identity, LINK_KEY, clock=ahead, seed=3)
    mesh.run(4 * HELLO_INTERVAL)
    for i in range(1, 4):
        found = detection(i)
        found.time = int(mesh.wall * 1000)  # the agent stamps its own wall clock
        mesh.nodes[1].send(GS, found, mesh.now, mesh.wall)
    mesh.run(10)
    got = mesh.nodes[GS].arrived
    assert [a.messages[0].track_id for a in got] == [1, 2, 3]
    assert all(a.age is not None and a.age < 1.0 for a in got), "fresh, whatever the clocks"
    assert mesh.nodes[GS].counters["late"] == 0
    outcomes = {e.outcome for e in mesh.nodes[1].events if hasattr(e, "outcome")}
    assert outcomes == {event.EVENT_OUTCOME_ACCEPTED}


def test_frames_served_out_of_build_order_are_not_taken_for_replays(fleet: Fleet) -> None:
    """The scheduler sends a CRITICAL frame before LOW frames built earlier: each frame is
    signed as it leaves, so the receiver sees its timestamps in order and drops none."""
    mesh = StackMesh(fleet, [GS, 1], [(GS, 1)], gateway=GS)
    mesh.run(4 * HELLO_INTERVAL)
    ground = mesh.nodes[GS]
    ground.send(1, event.MAVLink_event_heartbeat_message(0, 1, 0), mesh.now, mesh.wall)
    mesh.run(5)  # a session
    for _ in range(3):
        beat = event.MAVLink_event_heartbeat_message(0, 1, 0)
        ground.send(1, beat, mesh.now, mesh.wall, priority=Priority.LOW)
    abort = event.MAVLink_event_mission_abort_message(0, 7, event.EVENT_ABORT_ACTION_RTL)
    ground.send(1, abort, mesh.now, mesh.wall)
    mesh.run(5)
    kinds = [a.messages[0].get_type() for a in mesh.nodes[1].arrived]
    assert kinds.count("EVENT_HEARTBEAT") == 4
    assert "EVENT_MISSION_ABORT" in kinds
    assert mesh.nodes[1].link.drops[Drop.REPLAY] == 0


def test_a_gateway_acks_a_detection_only_once_the_application_committed_it(
    fleet: Fleet,
) -> None:
    """Durable before acknowledged: a ground station that crashed between arrival and
    commit must leave the UAV retrying, so the ACK waits for `acknowledge`."""
    mesh = StackMesh(fleet, [GS, 1], [(GS, 1)], gateway=GS)
    detections = frozenset({event.MAVLINK_MSG_ID_EVENT_DETECTION})
    ground = mesh.nodes[GS]
    mesh.nodes[GS] = NodeStack(
        ground.sessions.identity, LINK_KEY, gateway=True, ack_after_commit=detections
    )
    mesh.run(4 * HELLO_INTERVAL)
    seq = mesh.nodes[1].send(GS, detection(1), mesh.now, mesh.wall)
    mesh.run(10)
    acked = [e for e in mesh.nodes[1].events if getattr(e, "seq", None) == seq]
    arrivals = list(mesh.nodes[GS].arrived)
    assert acked == [], "not committed, not acknowledged"
    assert arrivals[0].ack is not None
    assert not arrivals[0].repeat
    assert all(a.repeat for a in arrivals[1:]), "the UAV retries; copies are marked"
    mesh.nodes[GS].acknowledge(arrivals[0], mesh.now, mesh.wall)
    mesh.run(5)
    events = [e for e in mesh.nodes[1].events if e.seq == seq]
    assert [e.outcome for e in events if isinstance(e, Acknowledged)] == [
        event.EVENT_OUTCOME_ACCEPTED
    ]


def test_status_has_every_layer_counters_of_a_delivery(fleet: Fleet) -> None:
    mesh = StackMesh(fleet, [GS, 1, 2], [(GS, 1), (1, 2)], gateway=GS)
    mesh.run(10 * HELLO_INTERVAL)
    mesh.nodes[2].send(GS, detection(1), mesh.now, mesh.wall)
    mesh.run(5)
    mesh.nodes[GS].receive_datagram(b"not a frame", mesh.now, mesh.wall)
    far, relay, ground = (mesh.nodes[n].status() for n in (2, 1, GS))
    assert far["sender"]["acknowledged"] == 1
    assert relay["forwarder"]["forwarded"] >= 2
    assert ground["router"]["hello_sent"] >= 1
    assert ground["sessions"] == dict(mesh.nodes[GS].sessions.counters)
    link = ground["link"]
    assert link["datagrams_refused"] == {"noise": 1}
    assert link["datagrams_received"] == link["datagrams_accepted"] + 1
    assert link["frames_received"] >= link["datagrams_accepted"]
    assert set(ground) == {
        "link",
        "router",
        "forwarder",
        "sessions",
        "fragments",
        "authorizer",
        "duplicates",
        "sender",
        "scheduler",
        "node",
    }
    assert ground["node"]["critical_behind_lower"] == 0
