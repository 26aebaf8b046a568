"""bench/link.py, bench/security.py and bench/outbox.py in quick mode: each gives its rows,
every figure measured, positive and finite, with the seed design's figure beside ours
exactly where the peer file is there to measure (pymavlink's always, for the link)."""

from __future__ import annotations

import math
import shutil
from types import ModuleType

import pytest

from bench import link, outbox, security
from bench.seed import SEED_PEER
from bench.table import Row

CAN_SLOW_FLUSH = shutil.which("cc") is not None
"""The outbox's slow-flush rows need a C compiler to build their double (CI installs one)."""
EXPECTED = {
    "link": [
        ("frame + sign", "frames/s", "pymavlink"),
        ("verify + parse", "frames/s", "pymavlink"),
        ("detection on the air, signed + sealed", "bytes", "seed"),
    ],
    "security": [("seal + open a detection", "msg/s", "seed"), ("sealing overhead", "bytes", "")],
    "outbox": [
        ("committed enqueues, 1 producer", "msg/s", "always"),
        ("committed enqueues, 8 producers", "msg/s", "always"),
        ("committed enqueues, 64 producers", "msg/s", "always"),
        ("drain (take, mark, confirm)", "msg/s", ""),
        *(
            [
                ("committed enqueues, 1 producer, flush +2 ms", "msg/s", "always"),
                ("committed enqueues, 8 producers, flush +2 ms", "msg/s", "always"),
                ("committed enqueues, 64 producers, flush +2 ms", "msg/s", "always"),
            ]
            if CAN_SLOW_FLUSH
            else []
        ),
    ],
}
"""bench -> (metric, unit, whose peer figure): the seed file's ("seed"), pymavlink's, the
seed's buffer whether the file is there or reproduced ("always"), or none ("")."""


def positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


@pytest.mark.parametrize("module", [link, security, outbox], ids=lambda m: m.__name__)
def test_quick_rows_are_the_table_rows_all_measured(module: ModuleType) -> None:
    name = module.__name__.removeprefix("bench.")
    measured: list[Row] = module.rows(quick=True)
    assert [(row.metric, row.unit) for row in measured] == [
        (metric, unit) for metric, unit, _ in EXPECTED[name]
    ]
    for row, (_, _, peer) in zip(measured, EXPECTED[name], strict=True):
        assert row.bench == name
        assert positive(row.ours), row
        if peer in ("pymavlink", "always") or (peer == "seed" and SEED_PEER.exists()):
            assert positive(row.seed), row
        else:
            assert row.seed is None, row
