"""The cloud's answers to the HTTP uplink, read within bounds before they are believed.

A cloud that is broken, hijacked or impersonated is a peer like any other (issue 17: a
daemon never dies of its input). So every answer body is read as companion/json_bounds.py
reads hostile JSON, and the poll's body is streamed and cut off at MAX_ANSWER_BYTES
before it is all in memory. An answer that fails is an AnswerError naming why (`reason`:
one of json_bounds.REASONS, or `unusable` for valid JSON of the wrong shape); the uplink
counts it as `bad_responses` and logs the reason.
"""

from __future__ import annotations

from typing import Any

import httpx

from companion.json_bounds import JsonBoundsError, JsonLimits

from .. import command_payload

MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""A page of commands holds at most 100 (the API's default `limit`); 8 MiB leaves each
one more than the MQTT uplink's 64 KiB `max_command_bytes`."""
ANSWER_LIMITS = JsonLimits(
    max_bytes=MAX_ANSWER_BYTES,
    max_depth=command_payload.MAX_DEPTH + 2,  # the page's object and its list of commands
    max_digits=command_payload.MAX_DIGITS,
)

Page = tuple[list[dict[str, Any]], int]
"""Commands from one poll, and the cursor to ask after next."""


class AnswerError(JsonBoundsError):
    """An answer from the cloud that cannot be used: `reason` says why."""


async def read_streamed(response: httpx.Response) -> object:
    """The JSON of a streamed response's body, read no further than MAX_ANSWER_BYTES."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise AnswerError("oversize", f"answer over {MAX_ANSWER_BYTES} bytes")
    return read(bytes(body))


def read(body: bytes) -> object:
    """The JSON of an answer's body, within ANSWER_LIMITS."""
    try:
        return ANSWER_LIMITS.read(body)
    except JsonBoundsError as exc:
        raise AnswerError(exc.reason, str(exc)) from None


def command_page(answer: object) -> Page:
    """The commands (each a dict, or a stand-in the intake refuses) and the next cursor."""
    commands = answer.get("commands") if isinstance(answer, dict) else None
    cursor = answer.get("cursor") if isinstance(answer, dict) else None
    if not isinstance(commands, list) or type(cursor) is not int:
        raise AnswerError("unusable", "want commands (a list) and cursor (an integer)")
    return [c if isinstance(c, dict) else {"not_an_object": c} for c in commands], cursor


def ids(answer: object, name: str) -> list[str]:
    """The msg_ids an answer to POST /api/messages lists under `name` (none if absent)."""
    values = answer.get(name, []) if isinstance(answer, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise AnswerError("unusable", f"{name} must be a list of ids")
    return values


def rejected(response: httpx.Response) -> dict[str, str]:
    """msg_id -> reason for each record a 400/422 answer names (empty if it names none)."""
    try:
        answer = read(response.content)
    except AnswerError:
        return {}
    items = answer.get("rejected") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        return {}
    return {
        item["msg_id"]: str(item.get("error", "refused"))
        for item in items
        if isinstance(item, dict) and isinstance(item.get("msg_id"), str)
    }


def retry_after(response: httpx.Response) -> float | None:
    """A Retry-After in seconds (the HTTP-date form is not used by clouds we know)."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None
