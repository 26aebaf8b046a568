"""One row of the project's benchmark table, and the table printed from many rows.

Every benchmark module in `bench/` offers `rows(*, quick: bool = False) -> list[Row]`
(measured in that call; `quick` shrinks the work for the test suite). `python -m bench`
runs them all and prints one table; `python -m bench.<module>` prints that module's rows
(full size) through the same `render`.

Rules:
- `seed` is the peer's figure measured in the same run on the same machine: the seed
  design's (../shared/peers/seed_baseline.py) unless the note names another peer
  (pymavlink), or None where there is no counterpart.
- The ratio is ours over the seed's when higher is better, the seed's over ours when
  lower is better, so a ratio above 1 always means this project does better.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    bench: str
    metric: str
    ours: float
    unit: str
    seed: float | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.seed is None or self.seed == 0 or self.ours == 0:
            return None
        return self.ours / self.seed if self.higher_is_better else self.seed / self.ours


def _figure(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def render(rows: Iterable[Row]) -> str:
    """The rows as one fixed-width text table (also valid Markdown)."""
    header = ("bench", "measure", "ours", "peer", "ratio", "unit", "note")
    lines = [header]
    for row in rows:
        ratio = row.ratio
        lines.append(
            (
                row.bench,
                row.metric,
                _figure(row.ours),
                _figure(row.seed),
                "-" if ratio is None else f"{ratio:.1f}x",
                row.unit,
                row.note,
            )
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    numeric = {2, 3, 4}

    def cells(line: tuple[str, ...]) -> str:
        padded = (
            cell.rjust(width) if column in numeric else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (width + 1) + ":" if column in numeric else "-" * (width + 2)
            for column, width in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([cells(lines[0]), rule, *(cells(line) for line in lines[1:])])
