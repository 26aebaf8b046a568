"""Run the vehicle double as a process, serving MAVLink on TCP like ArduPilot SITL.

    python -m sitl.vehicle --sysid 3 --port 5770 --home -35.36,149.16,584 --ready-after 5

It logs one line when it listens and exits with status 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import trio

from .double import VehicleDouble
from .serve import serve_tcp

log = logging.getLogger("sitl.vehicle")


def _home(text: str) -> tuple[float, float, float]:
    try:
        lat, lon, alt = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAT,LON,ALT, got {text!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError(f"latitude/longitude out of range: {text!r}")
    return lat, lon, alt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sitl.vehicle",
        description=(
            "Serve the EVENT vehicle double (a test double of ArduCopter, not an autopilot) "
            "on a TCP port, one client at a time, like ArduPilot SITL's port 5760."
        ),
    )
    parser.add_argument("--sysid", type=int, default=1, help="MAVLink system id (default 1)")
    parser.add_argument(
        "--port", type=int, default=5760, help="TCP port to listen on (default 5760)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--home",
        type=_home,
        default=(-35.363261, 149.165230, 584.0),
        metavar="LAT,LON,ALT",
        help="home: degrees, degrees, metres AMSL (default ArduPilot's CMAC field)",
    )
    parser.add_argument("--speed", type=float, default=10.0, help="WPNAV_SPEED in m/s (default 10)")
    parser.add_argument(
        "--ready-after",
        type=float,
        default=40.0,
        help="seconds from start until GPS and EKF are ready to arm (default 40, as SITL)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for sensor jitter")
    args = parser.parse_args(argv)
    if not 1 <= args.sysid <= 255:
        parser.error("--sysid must be 1-255")
    if args.speed <= 0 or args.ready_after < 0:
        parser.error("--speed must be positive and --ready-after not negative")
    return args


async def run(args: argparse.Namespace) -> None:
    double = VehicleDouble(
        system_id=args.sysid,
        home=args.home,
        speed=args.speed,
        ready_after=args.ready_after,
        seed=args.seed,
    )
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_tcp, double, args.port, args.host)
            log.info(
                "vehicle double sysid %d listening on %s:%d (home %s, ready after %.0f s)",
                args.sysid,
                args.host,
                port,
                ",".join(str(v) for v in args.home),
                args.ready_after,
            )
            async for signum in signals:
                log.info("vehicle double: %s, stopping", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    failures: list[str] = []
    try:
        trio.run(run, args)
    except* OSError as group:
        failures += [str(exc) for exc in group.exceptions]
    if failures:
        where = f"{args.host}:{args.port}"
        print(f"vehicle double: cannot listen on {where}: {'; '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
