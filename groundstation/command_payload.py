"""A command as it arrives from the cloud over MQTT: bytes, bounded before they are parsed.

Everything in a payload is hostile until checked, and the checks come in an order that
keeps each step safe for the next (h11's invariant: parse it, or raise the peer's error,
never anything else), as the agent's detector intake does (companion/agent/detection.py):

1. Bounds, before parsing (companion/json_bounds.py): at most the uplink's
   `max_command_bytes`, UTF-8, nesting at most MAX_DEPTH deep (`json` recurses once per
   level, and so do the encoder and `repr` that later describe a refused command) and no
   number of more than MAX_DIGITS digits.
2. `json.loads`, then `parse_command` (commands.py): a JSON object, each field's type
   and range, so nothing unbounded or non-finite reaches MAVLink packing.

Every refusal is a CommandError whose `reason` is one of REASONS: a fixed set, so the
counters keyed by it (`malformed_<reason>` in the uplink's stats) stay small.
"""

from __future__ import annotations

from companion.json_bounds import JsonBoundsError, JsonLimits

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


def read_payload(payload: bytes, limit: int) -> object:
    """The JSON value of a payload of at most `limit` bytes; CommandError if there is none."""
    limits = JsonLimits(max_bytes=limit, max_depth=MAX_DEPTH, max_digits=MAX_DIGITS)
    try:
        return limits.read(payload)
    except JsonBoundsError as exc:
        raise CommandError(str(exc), exc.reason) from None


def read_command(payload: bytes, limit: int) -> Command:
    """The command in a payload; CommandError (only) if there is none."""
    return parse_command(read_payload(payload, limit))
