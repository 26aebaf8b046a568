"""Regenerate the committed Python bindings of the EVENT dialect, or check them for drift.

    python -m dialects.generate           # rewrite dialects/event.py from dialects/event.xml
    python -m dialects.generate --check   # exit 1 if the committed bindings differ

The bindings come from pymavlink's mavgen (wire protocol 2.0). event.xml includes
ardupilotmega.xml, which mavgen resolves next to the including file, so generation runs
in a scratch directory holding event.xml beside the XML files that the pinned pymavlink
ships. The pin matters: another pymavlink version ships other ArduPilot definitions and
another generator, so its output differs; the drift check then fails, as it should.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
from pathlib import Path

import pymavlink
from pymavlink.generator import mavgen

HERE = Path(__file__).resolve().parent
XML = HERE / "event.xml"
BINDINGS = HERE / "event.py"
UPSTREAM_XML = Path(pymavlink.__file__).resolve().parent / "dialects" / "v20"


class GenerationError(Exception):
    """mavgen refused the XML (invalid schema, duplicate ids, ...)."""


def generate(xml: Path = XML) -> str:
    """Return the Python bindings that mavgen produces for `xml`."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for upstream in UPSTREAM_XML.glob("*.xml"):
            shutil.copy(upstream, work / upstream.name)
        shutil.copy(xml, work / "event.xml")
        out = work / "event.py"
        opts = mavgen.Opts(
            str(out), wire_protocol="2.0", language="Python3", validate=True, strict_units=False
        )
        log = io.StringIO()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            ok = mavgen.mavgen(opts, [str(work / "event.xml")])
        if not ok or not out.exists():
            raise GenerationError(f"mavgen failed for {xml}:\n{log.getvalue()}")
        return out.read_text()


def drifted(xml: Path = XML, bindings: Path = BINDINGS) -> bool:
    """True if `bindings` is not exactly what `xml` generates."""
    committed = bindings.read_text() if bindings.exists() else ""
    return generate(xml) != committed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check for drift")
    parser.add_argument("--xml", type=Path, default=XML, help="dialect XML (default: %(default)s)")
    parser.add_argument("--bindings", type=Path, default=BINDINGS, help="generated module")
    args = parser.parse_args(argv)
    if args.check:
        if drifted(args.xml, args.bindings):
            print(
                f"{args.bindings} is out of date: run python -m dialects.generate", file=sys.stderr
            )
            return 1
        print(f"{args.bindings} matches {args.xml}")
        return 0
    args.bindings.write_text(generate(args.xml))
    print(f"wrote {args.bindings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
