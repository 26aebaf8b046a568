"""event-ground-station: the field station's relay between the radio swarm and the cloud.

    event-ground-station --config /etc/event/ground-station.toml [--log-level info] [--check]

Exit status and signals: `companion.daemon`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from companion.daemon import daemon_main
from companion.preflight import check_node

from .config import load_station_config
from .station import open_ground_station


def main(argv: Sequence[str] | None = None) -> int:
    return daemon_main(
        argv,
        prog="event-ground-station",
        description="EVENT ground station: the radio mesh's gateway; relays detections, "
        "telemetry and status to the command center (HTTP or MQTT) and its commands to "
        "the UAVs, buffering durably while either side is out of reach.",
        load=load_station_config,
        describe=lambda config: f"node {config.node_id}, {config.uplink} uplink",
        preflight=check_node,
        open_daemon=open_ground_station,
    )


if __name__ == "__main__":
    sys.exit(main())
