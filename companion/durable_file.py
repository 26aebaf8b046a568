"""Small state files that survive a power cut whole: the old content or the new, never torn.

Rule: write a temporary file beside the target, fsync it, rename it over the target, then
fsync the directory so the rename itself is on the disk (POSIX rename is atomic; the
directory fsync makes it durable).
"""

from __future__ import annotations

import os
from pathlib import Path


def replace_durably(path: Path, text: str) -> None:
    """Replace the content of `path` with `text` (ASCII), atomically and durably."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
