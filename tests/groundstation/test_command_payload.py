"""Hostile command payloads from the cloud (issue 17): every payload is a Command or a
CommandError naming one of REASONS, never anything else; a refused one can still be
answered (its INVALID "ack" record builds); a parsed one packs into dialect messages."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dialects import event
from groundstation.command_payload import MAX_DEPTH, REASONS, read_command
from groundstation.commands import CommandError, to_messages
from groundstation.uplink.base import gateway_outcome_record

LIMIT = 64 * 1024
MAV = event.MAVLink(None, 255, 190)

VALID: list[dict[str, Any]] = [
    {
        "command_id": "m1",
        "uav": 3,
        "type": "mission_assign",
        "params": {
            "mission_id": 7,
            "items": [{"lat": 52.1, "lon": 4.3, "alt": 40.0}, {"command": "rtl"}],
            "start": True,
        },
    },
    {"command_id": "a1", "uav": 3, "type": "mission_abort", "params": {"action": "rtl"}},
    {"command_id": "r1", "uav": 3, "type": "retask", "params": {"mode": "jump", "item": 2}},
    {
        "command_id": "p1",
        "uav": 3,
        "type": "param_update",
        "params": {"name": "WPNAV_SPEED", "value": 500, "type": "uint16"},
    },
]

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
json_numbers = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.sampled_from([1e308, -1e308, 5e-324, 2**63, 2**64, -(2**63) - 1, 0.5])
)
json_values = st.recursive(
    json_scalars | json_numbers,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


def accepted_or_refused(payload: bytes) -> None:
    """The invariant: a command that packs, or a CommandError with a named reason whose
    refusal can be reported; anything else propagates and fails the test."""
    try:
        command = read_command(payload, LIMIT)
    except CommandError as exc:
        refused = exc
    else:
        head, attached = to_messages(command)
        for message in (head, *attached):
            message.pack(MAV)
        json.dumps(command.to_json(), allow_nan=False)
        return
    assert refused.reason in REASONS
    record = gateway_outcome_record(
        payload.decode(errors="replace"), 3, str(refused), gateway=255, cursor=None, now=0.0
    )
    json.dumps(record.payload, allow_nan=False)


@given(st.binary(max_size=512))
@example(b"[" * 100_000)
@example(b'{"a":' * 5000)
@example(b"9" * 5000)
@example(b'{"command_id": "x", "uav": 1' + b"0" * 4400 + b"}")
@example(b"\xff\xfe")
@example(b"NaN")
@example(b'{"uav": Infinity}')
def test_arbitrary_bytes(payload: bytes) -> None:
    accepted_or_refused(payload)


@given(st.sampled_from(VALID), st.data())
def test_mutated_valid_commands(command: dict[str, Any], data: st.DataObject) -> None:
    """A valid command with one field (top level, in params, or in an item) replaced by
    any JSON value, a huge or non-finite number among them."""
    mutated = json.loads(json.dumps(command))
    target = data.draw(st.sampled_from(_containers(mutated)))
    key = data.draw(st.sampled_from(sorted(target)) | st.text(max_size=6))
    target[key] = data.draw(json_values)
    accepted_or_refused(json.dumps(mutated).encode())


def _containers(command: dict[str, Any]) -> list[dict[str, Any]]:
    found = [command, command["params"]]
    found += [item for item in command["params"].get("items", []) if isinstance(item, dict)]
    return found


@given(st.sampled_from(VALID), st.integers(min_value=0, max_value=len(b"{}")), st.binary())
def test_truncated_and_padded_valid_commands(
    command: dict[str, Any], cut: int, tail: bytes
) -> None:
    text = json.dumps(command).encode()
    accepted_or_refused(text[: len(text) - cut] + tail)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b" " * (LIMIT + 1), "oversize"),
        (b"\xc3\x28", "not_utf8"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "too_deep"),
        (b'{"uav": ' + b"1" * 33 + b"}", "number_too_long"),
        (b'{"uav": 3', "not_json"),
        (b"[1, 2]", "not_object"),
        (b'{"command_id": "c", "uav": 3, "type": "mission_abort", "params": {}}', "invalid"),
        (b'{"command_id": "c", "uav": NaN, "type": "mission_abort"}', "invalid"),
        (b'{"command_id": "c", "uav": 1e999, "type": "mission_abort"}', "invalid"),
    ],
)
def test_each_refusal_is_named(payload: bytes, reason: str) -> None:
    with pytest.raises(CommandError) as refused:
        read_command(payload, LIMIT)
    assert refused.value.reason == reason


def test_brackets_and_digits_inside_strings_are_only_text() -> None:
    command = dict(VALID[1], command_id="a2", note="[[[[[[[[[[[[[[[[[[" + "1" * 40)
    assert read_command(json.dumps(command).encode(), LIMIT).command_id == "a2"


def test_every_valid_example_parses_and_nesting_has_room() -> None:
    for command in VALID:
        assert read_command(json.dumps(command).encode(), LIMIT).to_json()["uav"] == 3
    deep = dict(VALID[1], meta=json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)))
    assert math.isfinite(read_command(json.dumps(deep).encode(), LIMIT).uav)
