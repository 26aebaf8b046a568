"""The seed design's peer, ../shared/peers/seed_baseline.py: its figures from a run of the
file, and its functions loaded into this process.

Rules:
- The peer lives beside the project, not in it: where the file is absent, `figures` and
  `load` answer None and each bench says what it measures instead (a reproduction, or no
  peer figure).
- The file is run with this process's interpreter, in a process of its own, in the same
  run as what it is compared with.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

SEED_PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "seed_baseline.py"


def figures(n: int) -> dict[str, Any] | None:
    """The JSON object the peer prints when run for `n` messages; None without the peer."""
    if not SEED_PEER.exists():
        return None
    done = subprocess.run(
        [sys.executable, str(SEED_PEER), str(n)], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def load() -> ModuleType | None:
    """The peer file as a module, for its functions; None without the peer."""
    if not SEED_PEER.exists():
        return None
    spec = importlib.util.spec_from_file_location("seed_baseline", SEED_PEER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
