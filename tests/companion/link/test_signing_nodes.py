"""Signing timestamps that cannot wrap or run away, through whole node stacks: after a frame
stamped near 2^48, and after a restart from a poisoned reservation, the nodes keep talking."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.link import Drop, SigningClock, ticks
from companion.link.signing import MAX_AHEAD, TICKS_PER_SECOND
from companion.link.timestamp_store import TimestampStore
from companion.mesh.router import HELLO_INTERVAL
from companion.node import NodeStack
from companion.security.certificate import Role
from dialects import event
from tests.companion.mesh.stack import LINK_KEY, StackMesh
from tests.companion.security.fleet import Fleet
from tests.samples import detection

from .helpers import forge

GS = 255
UAV = 1
DAY = 86_400 * TICKS_PER_SECOND


def abort(track: int) -> object:
    return event.MAVLink_event_mission_abort_message(0, track, event.EVENT_ABORT_ACTION_RTL)


def talk(mesh: StackMesh, rounds: int = 3) -> None:
    """A detection up and an abort down per round; every one must arrive."""
    up_before, down_before = len(mesh.nodes[GS].arrived), len(mesh.nodes[UAV].arrived)
    for i in range(rounds):
        mesh.nodes[UAV].send(GS, detection(i), mesh.now, mesh.wall)
        mesh.nodes[GS].send(UAV, abort(i), mesh.now, mesh.wall)
        mesh.run(2)
    mesh.run(20)
    assert len(mesh.nodes[GS].arrived) - up_before == rounds
    assert len(mesh.nodes[UAV].arrived) - down_before == rounds


def not_dragged(mesh: StackMesh) -> None:
    """Neither node's signing clock was pulled far from the wall clock."""
    for node in mesh.nodes.values():
        assert node.clock.now(mesh.wall) < ticks(mesh.wall) + DAY


@pytest.mark.parametrize("forged_from", [UAV, 9], ids=["uav_stream", "stranger"])
@pytest.mark.parametrize("stamp", ["near_wrap", "far_ahead"])
def test_nodes_keep_talking_after_a_frame_from_far_ahead(
    fleet: Fleet, forged_from: int, stamp: str
) -> None:
    mesh = StackMesh(fleet, [GS, UAV], [(GS, UAV)], gateway=GS)
    mesh.run(4 * HELLO_INTERVAL)
    talk(mesh)
    timestamp = 2**48 - 2 if stamp == "near_wrap" else ticks(mesh.wall) + 2 * MAX_AHEAD
    hello = event.MAVLink_event_heartbeat_message(1, 3, 0)
    gs = mesh.nodes[GS]
    gs.receive_datagram(forge(hello, timestamp, forged_from, LINK_KEY), mesh.now, mesh.wall)
    assert gs.link.drops[Drop.AHEAD] == 1
    talk(mesh)
    not_dragged(mesh)
    assert gs.link.status()["drops"]["ahead"] == 1
    for node in mesh.nodes.values():
        assert Drop.STALE not in node.link.drops  # nobody's timestamps wrapped


@pytest.mark.parametrize(
    "saved",
    [str(2**48 - 5), str(ticks(1_780_000_000.0) + 2 * MAX_AHEAD), "9" * 400],
    ids=["near_wrap", "far_ahead", "huge"],
)
def test_node_restarted_from_a_poisoned_reservation_still_talks(
    fleet: Fleet, tmp_path: Path, saved: str
) -> None:
    mesh = StackMesh(fleet, [GS, UAV], [(GS, UAV)], gateway=GS)
    store = TimestampStore(tmp_path / "signing.timestamp")
    store.path.write_text(saved + "\n")
    clock = SigningClock(store.load(mesh.wall))
    assert store.refused_loads == 1
    mesh.nodes[UAV] = NodeStack(fleet.identity(UAV, Role.UAV), LINK_KEY, clock=clock, seed=3)
    mesh.run(4 * HELLO_INTERVAL)
    talk(mesh, rounds=5)
    not_dragged(mesh)
    drops = mesh.nodes[GS].link.drops  # it accepts the restarted node's frames
    assert Drop.STALE not in drops
    assert Drop.AHEAD not in drops
