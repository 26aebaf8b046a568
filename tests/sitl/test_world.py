"""The world's snapshot: true positions on the plane, links in range, the air's counters."""

from __future__ import annotations

import json
import os

import trio

from sitl.radio import RadioConfig
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
