"""JSON numbers as the API document (docs/api.openapi.yaml) reads them.

JSON has one number type. JSON Schema's `integer` (draft 2020-12, Validation section
6.1.1) is any number whose fractional part is zero, so `1.0` is the integer 1; a boolean
is not a number. Every reader of an API integer goes through `json_integer`, so the
services take exactly what the document allows.
"""

from __future__ import annotations


def json_integer(value: object) -> int | None:
    """The integer a parsed JSON value stands for (1 for 1 and for 1.0), or None."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None
