"""`python -m sitl.demo`: a whole EVENT swarm on one laptop, in one command.

    python -m sitl.demo [--uavs 4] [--seed 7] [--out runs/demo] [--quick] [--no-live]

Starts the world (simulated radio air and vehicle doubles), the reference command
center, the ground station and one companion agent per UAV, each its own process; plays
the default scenario (sitl/demo/plan.py); writes report.json and report.png in the run
directory. Exit status 0 when the report says nothing was lost, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import trio

from .runner import DemoOptions, run_demo


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sitl.demo",
        description="Run a whole EVENT swarm (vehicle doubles, companion agents, radio mesh, "
        "ground station, reference command center) through the default scenario.",
    )
    parser.add_argument("--uavs", type=int, default=4, help="4-8 (default 4)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="run directory (default runs/TIMESTAMP)")
    parser.add_argument("--quick", action="store_true", help="the shorter scenario (CI)")
    parser.add_argument(
        "--no-live", action="store_true", help="progress lines instead of the live table"
    )
    args = parser.parse_args(argv)
    out = args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    options = DemoOptions(
        out=out, uavs=args.uavs, seed=args.seed, quick=args.quick, live=not args.no_live
    )
    report = trio.run(run_demo, options)
    print(f"run directory: {out}  (report.json, report.png, logs/)")
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
