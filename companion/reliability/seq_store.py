"""The seq counter's reservation on disk (`numbering.py`), so seqs never repeat across
restarts.

Rules:
- One small file holding a decimal seq (1..SEQ_MAX), replaced durably
  (`durable_file.py`): after a power cut it holds the old or the new value, never a torn
  one.
- A missing file means a first start. An unreadable one, or one that is not a seq, is
  logged with the file and the reason, counted in `refused_loads`, and the node numbers
  from its fleet time as on a first start: the receivers' windows most likely lie behind
  that, and a file we cannot read must not keep the node from talking.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..durable_file import replace_durably
from .numbering import SEQ_MAX, wrap

log = logging.getLogger(__name__)


class SeqStore:
    """Load and save a `SeqNumbering` reservation at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.refused_loads = 0

    def load(self) -> int | None:
        """The saved seq; None if there is none or it is refused (logged and counted)."""
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            return self._refuse(f"unreadable: {exc}")
        if not text.isdigit() or len(text) > len(str(SEQ_MAX)):
            return self._refuse(f"not a decimal seq: {text[:20]!r}")
        value = int(text)
        if not 1 <= value <= SEQ_MAX:
            return self._refuse(f"{value} is outside 1..{SEQ_MAX}")
        return value

    def save(self, value: int) -> None:
        """Durably replace the saved value with the seq of counter `value`."""
        replace_durably(self.path, f"{wrap(value)}\n")

    def status(self) -> dict[str, int]:
        """Read-only figures for status files."""
        return {"refused_loads": self.refused_loads}

    def _refuse(self, why: str) -> int | None:
        """Log and count a refused file; the node numbers from its fleet time (None)."""
        self.refused_loads += 1
        log.error(
            "event=seq_file_refused file=%s: %s; numbering from the fleet time", self.path, why
        )
        return None
