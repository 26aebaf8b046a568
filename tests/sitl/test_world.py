"""The world's snapshot: true positions on the plane, links in range, the air's counters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import trio

from sitl.radio import RadioConfig
from sitl.vehicle.ardupilot import free_instances, skip_reason
from sitl.world import World, WorldConfig

ORIGIN = (-35.363261, 149.165230, 584.0)


async def test_snapshot_places_vehicles_and_links_by_range() -> None:
    base = 30000 + (os.getpid() % 200) * 20
    near, far = (-35.3623, ORIGIN[1]), (-35.3450, ORIGIN[1])  # ~107 m and ~2 km north
    world = World(
        WorldConfig(
            origin=ORIGIN,
            homes={1: near, 2: far},
            radio_base=base,
            autopilot_base=base + 10,
            radio=RadioConfig(range_m=1500.0),
        )
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(world.run)
        snapshot = world.snapshot()
        nursery.cancel_scope.cancel()
    assert json.loads(json.dumps(snapshot)) == snapshot  # one JSON line as it is
    one, two = snapshot["vehicles"]["1"], snapshot["vehicles"]["2"]
    assert (one["lat"], one["lon"], one["landed"], one["armed"]) == (*near, True, False)
    assert one["x"] == 0.0
    assert 106.0 < one["y"] < 108.0
    assert 2030.0 < two["y"] < 2040.0
    assert snapshot["links"] == [[1, 255]]  # 2 is out of everyone's range
    air = snapshot["air"]
    assert (air["frames_sent"], air["bytes_sent"], air["lost"]) == (0, 0, {})
    assert air["capacity_bytes"] > 0


async def test_each_uav_flies_the_kind_it_is_given_and_is_named_for_the_report() -> None:
    base = 31000 + (os.getpid() % 200) * 20
    world = World(
        WorldConfig(
            origin=ORIGIN,
            homes={1: ORIGIN[:2], 2: ORIGIN[:2]},
            radio_base=base,
            autopilot_base=base + 10,
            kinds={2: "rover"},
            ready_after=0.0,
        )
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(world.run)
        await trio.sleep(0.3)
        vehicles = world.snapshot()["vehicles"]
        nursery.cancel_scope.cancel()
    assert vehicles["1"]["autopilot"] == "vehicle double (copter)"
    assert vehicles["2"]["autopilot"] == "vehicle double (rover)"
    assert (vehicles["1"]["mode"], vehicles["2"]["mode"]) == ("STABILIZE", "MANUAL")
    assert vehicles["1"]["ready"] is True
    assert world.autopilot_port(2) == base + 12


def test_an_unknown_autopilot_is_refused() -> None:
    with pytest.raises(ValueError, match="autopilot must be one of"):
        World(WorldConfig(origin=ORIGIN, homes={1: ORIGIN[:2]}, autopilot="px4"))


def test_real_sitl_vehicles_report_where_they_are_and_what_they_are(tmp_path: Path) -> None:
    """Two SITL copters run by the world: each one's version line, mode and position come
    from SITL itself (its SERIAL1) once a client (here, a stand-in agent) holds SERIAL0."""
    if reason := skip_reason():
        pytest.skip(reason)
    trio.run(_two_sitl_copters, tmp_path)


async def _two_sitl_copters(tmp_path: Path) -> None:
    first, second = free_instances(2, first=50)
    homes = {1: (-35.3630, 149.1650), 2: (-35.3640, 149.1660)}
    world = World(
        WorldConfig(
            origin=ORIGIN,
            homes=homes,
            radio_base=32000 + (os.getpid() % 200) * 20,
            autopilot="ardupilot",
            sitl_instances={1: first, 2: second},
            sitl_dir=str(tmp_path),
        )
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(world.run)
        assert world.autopilot_port(2) == 5760 + 10 * second
        agents = [await trio.open_tcp_stream("127.0.0.1", world.autopilot_port(n)) for n in (1, 2)]
        with trio.fail_after(120):
            while not all(v["ready"] for v in world.snapshot()["vehicles"].values()):
                await trio.sleep(0.5)
        vehicles = world.snapshot()["vehicles"]
        for agent in agents:
            await agent.aclose()
        nursery.cancel_scope.cancel()
    for node, (lat, lon) in homes.items():
        vehicle = vehicles[str(node)]
        assert vehicle["autopilot"].startswith("ArduCopter 4."), vehicle["autopilot"]
        assert (vehicle["mode"], vehicle["armed"], vehicle["landed"]) == ("STABILIZE", False, True)
        assert abs(vehicle["lat"] - lat) < 1e-5
        assert abs(vehicle["lon"] - lon) < 1e-5
    assert (tmp_path / "sitl-2" / "eeprom.bin").exists()
