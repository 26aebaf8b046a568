"""event-agent: the companion agent as a daemon.

    event-agent --config /etc/event/agent.toml [--log-level info] [--check]

Exit status and signals: `companion.daemon`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..daemon import daemon_main
from .agent import open_agent
from .config import load_config


def main(argv: Sequence[str] | None = None) -> int:
    return daemon_main(
        argv,
        prog="event-agent",
        description="EVENT companion agent: drives the flight controller from EVENT "
        "commands and sends detections, telemetry and status home over the radio mesh.",
        load=load_config,
        describe=lambda config: f"node {config.node_id}",
        open_daemon=open_agent,
    )


if __name__ == "__main__":
    sys.exit(main())
