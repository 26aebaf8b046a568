"""`python -m bench`: every benchmark of the project in one run, printed as one table.

    python -m bench [--quick] [--only outbox,link,...] [--json FILE]

Each module's `rows()` measures in this process's run, the seed design's peer
(../shared/peers/seed_baseline.py) measured beside ours where one exists; the table's
ratio column reads "above 1 is better for this project". Absolute figures on a shared
machine are noisy: the ratios are the figures to read.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict

from .table import Row, render

BENCHES = ("link", "security", "outbox", "agent", "uplink")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (the test suite's)")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated benches")
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    args = parser.parse_args(argv)
    chosen = [name for name in args.only.split(",") if name]
    unknown = sorted(set(chosen) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benches {unknown}; known: {', '.join(BENCHES)}")
    rows: list[Row] = []
    for name in chosen:
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        found: list[Row] = module.rows(quick=args.quick)
        rows.extend(found)
        print(
            f"bench {name}: {len(found)} rows in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
    print(render(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump([{**asdict(row), "ratio": row.ratio} for row in rows], out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
