"""`python -m sitl.demo`: a whole EVENT swarm on one laptop, in one command.

    python -m sitl.demo [--uavs 4] [--seed 7] [--out runs/demo] [--quick] [--no-live]
                        [--vehicles double|ardupilot] [--ardupilot-dir DIR]
                        [--kinds copter,copter,plane,rover]

Starts the world (simulated radio air and the vehicles), the reference command center,
the ground station and one companion agent per UAV, each its own process; plays the
default scenario (sitl/demo/plan.py); writes report.json and report.png in the run
directory. Exit status 0 when the report says nothing was lost, 1 otherwise; 2 when the
options cannot run (e.g. `--vehicles ardupilot` without SITL binaries).

Vehicles: the built-in vehicle double (the default), or with `--vehicles ardupilot` one
real ArduPilot SITL instance per UAV, run by the world process from `--ardupilot-dir`
(else EVENT_ARDUPILOT_DIR; see docs/deploy.md for getting the binaries).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import trio

from sitl.vehicle.ardupilot import ENV_DIR, ArduPilotUnavailable, find_binary
from sitl.vehicle.ardupilot_defaults import Vehicle
from sitl.world_vehicles import AUTOPILOTS

from .runner import DemoOptions, run_demo


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sitl.demo",
        description="Run a whole EVENT swarm (vehicles, companion agents, radio mesh, "
        "ground station, reference command center) through the default scenario.",
    )
    parser.add_argument("--uavs", type=int, default=4, help="4-8 (default 4)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="run directory (default runs/TIMESTAMP)")
    parser.add_argument("--quick", action="store_true", help="the shorter scenario (CI)")
    parser.add_argument(
        "--no-live", action="store_true", help="progress lines instead of the live table"
    )
    parser.add_argument(
        "--vehicles",
        choices=AUTOPILOTS,
        default="double",
        help="double: the built-in vehicle double (default); ardupilot: real SITL per UAV",
    )
    parser.add_argument(
        "--ardupilot-dir",
        type=Path,
        help=f"directory of SITL binaries (arducopter, arduplane, ardurover); default ${ENV_DIR}",
    )
    parser.add_argument(
        "--kinds",
        type=_kinds,
        default=(),
        help="vehicle kind per UAV in node order, e.g. copter,copter,plane,rover "
        "(default: all copters)",
    )
    args = parser.parse_args(argv)
    if len(args.kinds) > args.uavs:
        parser.error(f"--kinds names {len(args.kinds)} vehicles for {args.uavs} UAVs")
    options = DemoOptions(
        out=args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S"),
        uavs=args.uavs,
        seed=args.seed,
        quick=args.quick,
        live=not args.no_live,
        vehicles=args.vehicles,
        ardupilot_dir=args.ardupilot_dir,
        kinds=args.kinds,
    )
    if options.vehicles == "ardupilot":
        kinds = {Vehicle(options.kind(node)) for node in range(1, options.uavs + 1)}
        for vehicle in sorted(kinds, key=lambda v: v.value):
            binary = args.ardupilot_dir / vehicle.binary_name if args.ardupilot_dir else None
            try:
                find_binary(binary, vehicle=vehicle)
            except ArduPilotUnavailable as exc:
                parser.error(f"--vehicles ardupilot: {exc}")
    report = trio.run(run_demo, options)
    print(f"run directory: {options.out}  (report.json, report.png, logs/)")
    return 0 if report.get("ok") else 1


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(kind.strip() for kind in text.split(","))
    known = [v.value for v in Vehicle]
    for kind in kinds:
        if kind not in known:
            raise argparse.ArgumentTypeError(f"{kind!r} is not one of {', '.join(known)}")
    return kinds


if __name__ == "__main__":
    sys.exit(main())
