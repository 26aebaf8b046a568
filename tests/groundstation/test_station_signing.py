"""Signing timestamps that cannot wrap or run away, in the daemons as they are opened: a
node restarted from a poisoned reservation file (or seq file) still talks, says so in
status.json, and at a clean stop saves the last timestamp and the next seq. Real clock,
like test_station_e2e."""

from __future__ import annotations

import json
import time
from pathlib import Path

from companion.link.signing import MAX_AHEAD, ticks
from tests.groundstation.swarm import UAVS, open_swarm, provision


async def test_nodes_restarted_from_poisoned_reservations_talk_and_say_so(
    tmp_path: Path,
) -> None:
    files = provision(tmp_path / "fleet")
    poisoned = {
        UAVS[0]: 2**48 - 5,  # what a version without the ceiling may have saved
        files.ground_station: ticks(time.time()) + 2 * MAX_AHEAD,  # a broken clock's
    }
    for node, value in poisoned.items():
        files.state(node).mkdir(parents=True, exist_ok=True)
        (files.state(node) / "signing.timestamp").write_text(f"{value}\n")
        (files.state(node) / "seq").write_text("-1\n")  # and an unreadable seq
    # No cloud (nothing listens on port 9): the uplink retries, the radio side runs. The
    # swarm opens only once the station hears both UAVs: the poisoned UAV talks.
    async with open_swarm(files, uplink_url="http://127.0.0.1:9") as swarm:
        await swarm.detect(UAVS[0], 1)  # a seq taken from a counter numbered afresh
        numbering = swarm.agents[UAVS[0]].runtime.stack.reliable.numbering
        await swarm.until(lambda: numbering.status()["next"] is not None, "a seq is taken")
        station = await swarm.station.write_status()
        agent = swarm.agents[UAVS[0]].snapshot()
        written = json.loads(swarm.station.status_path.read_text())
    assert station["signing"]["saved_timestamp"] == {"corrupt_loads": 0, "refused_loads": 1}
    assert agent["signing"]["saved_timestamp"] == {"corrupt_loads": 0, "refused_loads": 1}
    assert written["signing"]["clock"]["past_ceiling"] is False
    assert agent["stack"]["link"]["frames_received"] > 0
    clock = swarm.agents[UAVS[0]].runtime.stack.clock.status()
    saved = int((files.state(UAVS[0]) / "signing.timestamp").read_text())
    assert saved == clock["last_sent"] == clock["saved"]  # the clean stop saved what it used
    assert station["signing"]["seq"]["refused_loads"] == 1
    assert agent["signing"]["seq"]["refused_loads"] == 1
    seq = swarm.agents[UAVS[0]].runtime.stack.reliable.numbering.status()
    assert int((files.state(UAVS[0]) / "seq").read_text()) == seq["next"] == seq["saved"]
