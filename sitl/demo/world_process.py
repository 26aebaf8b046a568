"""The demo's world as its own process: the air and every vehicle double, sampled each second.

    python -m sitl.demo.world_process --config world.json --out world.jsonl

Rules:
- `world.json` holds `sitl.world.WorldConfig`'s fields (`radio` as RadioConfig's fields;
  `faults` as a list of timed fault objects, `sitl.world_faults`, e.g.
  [{"at": 60, "cut": 2}, {"at": 90, "restore": 2}]; `control_port` for faults and status
  at run time: send `{"cut": 2}` or `status` as one line to 127.0.0.1:control_port).
  A bad fault in world.json stops the process before it starts (exit 2, the reason on
  stderr).
- Logs to stderr: one line per fault applied (`fault t=... source=plan|control ...`).
- Prints "world ready" on stdout once every radio port and autopilot port is listening.
- `world.jsonl`: a header line (origin, range, node ids, air rate), then one sample per
  second: time, each vehicle's true position and mode, the node pairs within reliable
  radio range (`range_m * fade_start`), the air's cumulative counters, each node's, and
  the faults applied and in force. Flushed per line, so a reader can follow it while the
  run goes on.
- SIGTERM or SIGINT: one last sample, then exit 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import trio

from sitl.radio import RadioConfig
from sitl.world import World, WorldConfig
from sitl.world_faults import FaultError, parse_plan


def load_world_config(path: Path) -> WorldConfig:
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["origin"] = tuple(raw["origin"])
    raw["homes"] = {int(node): tuple(home) for node, home in raw["homes"].items()}
    for key in ("kinds", "sitl_instances"):
        raw[key] = {int(node): value for node, value in raw.get(key, {}).items()}
    raw["radio"] = RadioConfig(**raw.get("radio", {}))
    raw["faults"] = parse_plan(raw.get("faults", []))
    return WorldConfig(**raw)


def sample(world: World) -> dict[str, Any]:
    """One line of world.jsonl: the world's snapshot and the wall-clock time it was taken."""
    return {**world.snapshot(), "wall": time.time()}


async def serve(config: WorldConfig, out: IO[str]) -> None:
    world = World(config)
    header = {
        "origin": list(config.origin),
        "range_m": config.radio.range_m,
        "ground_station": config.ground_station,
        "uavs": sorted(world.vehicles),
        "autopilot": config.autopilot,
        "air_rate": config.radio.air_rate,
    }
    out.write(json.dumps(header) + "\n")
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(world.run)
            print("world ready", flush=True)

            async def sampler() -> None:
                while True:
                    out.write(json.dumps(sample(world)) + "\n")
                    out.flush()
                    await trio.sleep(1.0)

            nursery.start_soon(sampler)
            async for _ in signals:
                break
            out.write(json.dumps(sample(world)) + "\n")
            nursery.cancel_scope.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sitl.demo.world_process",
        description="The simulated air and vehicle doubles of a swarm demo, in one process.",
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = load_world_config(args.config)
    except FaultError as error:
        parser.error(f"{args.config}: {error}")
    with args.out.open("w", encoding="utf-8") as out:
        trio.run(serve, config, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
