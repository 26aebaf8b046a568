"""Hostile JSON read within bounds: size, UTF-8, nesting and digits checked before parsing.

Everything from a peer is hostile until checked, and the checks come in an order that
keeps each step safe for the next (h11's invariant, `fuzz/afl-server.py`: parse it, or
raise the peer's error, never anything else):

1. Size: at most `limits.max_bytes`, before anything looks inside.
2. Encoding: UTF-8 (RFC 8259 section 8.1: JSON exchanged between systems is UTF-8).
3. Shape, with the JSON strings blanked out: nesting at most `limits.max_depth` deep
   (Python's `json` recurses once per level, and so do the encoder and `repr`: '[' * 60000
   is a RecursionError) and no number written with more than `limits.max_digits` digits
   (past `sys.get_int_max_str_digits` an integer is a ValueError). Both are found with
   linear regular expressions, never by parsing.
4. `json.loads`.

Used by the agent's detector intake (companion/agent/detection.py), the ground station's
MQTT command payloads (groundstation/command_payload.py) and the HTTP uplink's answers
(groundstation/uplink/http.py). Each refusal is a JsonBoundsError whose `reason` is one
of REASONS, which the callers keep as their own counters' names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import accumulate

from .errors import RemoteProtocolError

REASONS = ("oversize", "not_utf8", "too_deep", "number_too_long", "not_json")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
"""A JSON string, or an unterminated one running to the end: every attempt from a quote
matches, so the scan is linear whatever the input."""
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonBoundsError(RemoteProtocolError, ValueError):
    """JSON text refused before or by parsing: `reason` (one of REASONS) names why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonLimits:
    """How much one JSON text may hold."""

    max_bytes: int
    max_depth: int = 16
    """Deepest nesting of arrays and objects."""
    max_digits: int = 32
    """Longest run of digits in a number (a float's shortest repr has at most 17, a uint64
    20)."""

    def read(self, data: bytes | str) -> object:
        """The JSON value of `data`; JsonBoundsError if it is none or out of bounds."""
        if len(data) > self.max_bytes:
            raise JsonBoundsError("oversize", f"{len(data)} bytes, over the {self.max_bytes} limit")
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise JsonBoundsError(
                    "not_utf8", f"not JSON: not UTF-8 at byte {exc.start}"
                ) from None
        self._check_shape(_STRING.sub("", data))
        try:
            return json.loads(data)
        except ValueError as exc:
            raise JsonBoundsError("not_json", f"not JSON: {exc}") from None

    def _check_shape(self, bare: str) -> None:
        """Bound what `json.loads` would recurse into or convert, in `bare`: the text with
        its strings removed (brackets and digits inside strings are only text)."""
        steps = map(_NESTING.__getitem__, _NOT_BRACKET.sub("", bare))
        if max(accumulate(steps), default=0) > self.max_depth:
            raise JsonBoundsError("too_deep", f"nested deeper than {self.max_depth}")
        if re.search(f"[0-9]{{{self.max_digits + 1},}}", bare):  # compiled once, re caches
            raise JsonBoundsError(
                "number_too_long", f"a number of more than {self.max_digits} digits"
            )
