"""What the project's daemons (`event-agent`, `event-ground-station`) share on the command line.

    PROG --config FILE [--log-level info] [--check]

Rules:
- Logs are logfmt (`key=value`) lines on stderr.
- `--check` and the real start check the same things: the configuration (`load`), then
  what the start needs from the machine (`preflight`: keys, files, ports, host names;
  `companion/preflight.py`). Only then does the real start open anything.
- Exit status: 0 after a clean shutdown (SIGTERM or SIGINT) or a passed `--check`; 2 for
  a configuration or key problem (one line on stderr naming the setting, no traceback),
  found by those checks or while opening; 1 if the daemon failed while running
  (traceback).
- On SIGTERM or SIGINT the daemon's block is left normally: everything its outboxes
  accepted is committed before the process exits.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol, TypeVar

import trio

from .security.keystore import KeystoreError
from .settings import ConfigError

Config = TypeVar("Config")


class Daemon(Protocol):
    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...


def daemon_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
    load: Callable[[Path], Config],
    describe: Callable[[Config], str],
    preflight: Callable[[Config], None],
    open_daemon: Callable[[Config], AbstractAsyncContextManager[Daemon]],
) -> int:
    """Parse arguments, load the configuration, run the daemon until a signal; exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
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
        config = load(args.config)
        preflight(config)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{prog}: {args.config} is valid ({describe(config)})")
        return 0
    try:
        trio.run(_serve, prog, config, open_daemon)
    except (KeystoreError, ValueError, OSError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve(
    prog: str,
    config: Config,
    open_daemon: Callable[[Config], AbstractAsyncContextManager[Daemon]],
) -> None:
    log = logging.getLogger(f"event.{prog}")
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with open_daemon(config) as daemon, trio.open_nursery() as nursery:
            await nursery.start(daemon.run)
            async for signum in signals:
                log.info("event=stopping signal=%s", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
    log.info("event=stopped")
