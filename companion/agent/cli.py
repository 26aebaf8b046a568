"""event-agent: the companion agent as a daemon.

    event-agent --config /etc/event/agent.toml [--log-level info] [--check]

Exit status and signals: `companion.daemon`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..daemon import daemon_main
from ..preflight import check_endpoint, check_node
from .assembly import open_agent
from .config import AgentConfig, load_config


def preflight(config: AgentConfig) -> None:
    """What the agent's start needs beyond any node's: its autopilot and detector ports."""
    check_node(config)
    check_endpoint("autopilot.url", config.autopilot, listen=True)
    check_endpoint("detector.listen", config.detector, listen=True)


def main(argv: Sequence[str] | None = None) -> int:
    return daemon_main(
        argv,
        prog="event-agent",
        description="EVENT companion agent: drives the flight controller from EVENT "
        "commands and sends detections, telemetry and status home over the radio mesh.",
        load=load_config,
        describe=lambda config: f"node {config.node_id}",
        preflight=preflight,
        open_daemon=open_agent,
    )


if __name__ == "__main__":
    sys.exit(main())
