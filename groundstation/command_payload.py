"""A command as it arrives from the cloud over MQTT: bytes, bounded before they are parsed.

Everything in a payload is hostile until checked, and the checks come in an order that
keeps each step safe for the next (h11's invariant: parse it, or raise the peer's error,
never anything else), as the agent's detector intake does (companion/agent/detection.py):

1. Size: at most the uplink's `max_command_bytes`, before anything looks inside.
2. Encoding: UTF-8 (RFC 8259 section 8.1).
3. Shape, with the JSON strings blanked out: nesting at most MAX_DEPTH deep (`json`
   recurses once per level, and so do the encoder and `repr` that later describe a
   refused command) and no number of more than MAX_DIGITS digits (past
   `sys.get_int_max_str_digits` a number is a ValueError, and far outside every field).
   Both are found with linear regular expressions, never by parsing.
4. `json.loads`, then `parse_command` (commands.py): a JSON object, each field's type
   and range, so nothing unbounded or non-finite reaches MAVLink packing.

Every refusal is a CommandError whose `reason` is one of REASONS: a fixed set, so the
counters keyed by it (`malformed_<reason>` in the uplink's stats) stay small.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate

from .commands import Command, CommandError, parse_command

MAX_DEPTH = 16
"""Deepest nesting of arrays and objects (a mission_assign needs 4; room is left for
metadata the cloud attaches at the top level)."""
MAX_DIGITS = 32
"""Longest run of digits in a number: a float's shortest repr has at most 17."""

REASONS = (
    "oversize",
    "not_utf8",
    "too_deep",
    "number_too_long",
    "not_json",
    "not_object",
    "invalid",
)
"""Why a payload was refused; `invalid` is a JSON object that is no valid command (the
message names the field)."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
"""A JSON string, or an unterminated one running to the end: linear whatever the input."""
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LONG_NUMBER = re.compile(f"[0-9]{{{MAX_DIGITS + 1},}}")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}


def read_payload(payload: bytes, limit: int) -> object:
    """The JSON value of a payload of at most `limit` bytes; CommandError if there is none."""
    if len(payload) > limit:
        raise CommandError(f"{len(payload)} bytes, over the {limit} byte limit", "oversize")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError(f"not JSON: not UTF-8 at byte {exc.start}", "not_utf8") from None
    _check_shape(_STRING.sub("", text))
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"not JSON: {exc}", "not_json") from None


def read_command(payload: bytes, limit: int) -> Command:
    """The command in a payload; CommandError (only) if there is none."""
    return parse_command(read_payload(payload, limit))


def _check_shape(bare: str) -> None:
    """Bound what `json.loads` would recurse into or convert, in `bare`: the text with its
    strings removed (brackets and digits inside strings are only text)."""
    steps = map(_NESTING.__getitem__, _NOT_BRACKET.sub("", bare))
    if max(accumulate(steps), default=0) > MAX_DEPTH:
        raise CommandError(f"nested deeper than {MAX_DEPTH}", "too_deep")
    if _LONG_NUMBER.search(bare):
        raise CommandError(f"a number of more than {MAX_DIGITS} digits", "number_too_long")
