"""event-agent: the companion agent as a daemon.

    event-agent --config /etc/event/agent.toml [--log-level info] [--check]

Exit status: 0 after a clean shutdown (SIGTERM or SIGINT), 2 for a configuration or key
problem (one line on stderr, no traceback), 1 if the agent failed while running.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from ..security.keystore import KeystoreError
from .agent import open_agent
from .config import AgentConfig, ConfigError, load_config

log = logging.getLogger("event.agent")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="event-agent",
        description="EVENT companion agent: drives the flight controller from EVENT "
        "commands and sends detections, telemetry and status home over the radio mesh.",
    )
    parser.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--check", action="store_true", help="check the configuration and keys, then exit"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"event-agent: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"event-agent: {args.config} is valid (node {config.node_id})")
        return 0
    try:
        trio.run(_serve, config)
    except (KeystoreError, ValueError, OSError) as exc:
        print(f"event-agent: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve(config: AgentConfig) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with open_agent(config) as agent, trio.open_nursery() as nursery:
            await nursery.start(agent.run)
            async for signum in signals:
                log.info("event=stopping signal=%s", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
    log.info("event=stopped")


if __name__ == "__main__":
    sys.exit(main())
