"""The HTTP uplink against a hostile cloud (issue 17): answers to GET /api/commands that
are endless, too large, too deep or hold too long a number are refused as
`bad_responses`, logged with their reason, and the next good page's command arrives.

A double of the cloud behind httpx.MockTransport; real time, waits on conditions (the
outbox's SQLite thread is outside trio, see test_uplink_http.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from groundstation.commands import Command
from groundstation.uplink import open_http_uplink
from groundstation.uplink.http_answers import MAX_ANSWER_BYTES
from tests.groundstation.test_uplink_http import config, until

ABORT = {"command_id": "good", "uav": 3, "type": "mission_abort", "params": {"action": "rtl"}}


def page(*commands: dict[str, Any], cursor: int = 1) -> bytes:
    return json.dumps({"commands": list(commands), "cursor": cursor}).encode()


class EndlessBody(httpx.AsyncByteStream):
    """A body four times the limit (a cloud stuck in a loop, or one that means harm),
    streamed in 64 KiB chunks; `sent` counts what the uplink took."""

    def __init__(self) -> None:
        self.sent = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self.sent >= 4 * MAX_ANSWER_BYTES:
            raise StopAsyncIteration
        await trio.lowlevel.checkpoint()
        chunk = b" " * (64 * 1024) if self.sent else b'{"commands": [' + b" " * (64 * 1024)
        self.sent += len(chunk)
        return chunk


class HostileCloud:
    """A double of the cloud: GET /api/commands answers each of `bodies` in turn, then a
    page with one valid command, then empty pages after a short wait (a long poll's);
    POST /api/messages takes everything."""

    def __init__(self, bodies: list[httpx.AsyncByteStream | bytes]) -> None:
        self.bodies = [*bodies, page({**ABORT, "age": 0, "cursor": 1})]

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/messages":
            ids = [m["msg_id"] for m in json.loads(request.content)["messages"]]
            return httpx.Response(200, json={"accepted": ids, "duplicates": []})
        if not self.bodies:
            await trio.sleep(0.05)
            return httpx.Response(200, content=page(cursor=1))
        body = self.bodies.pop(0)
        if isinstance(body, bytes):
            return httpx.Response(200, content=body)
        return httpx.Response(200, stream=body)


# httpx's response streams are async generators nested in async generators: a body cut
# short leaves them to trio's finalizer, which closes them and warns (encode/httpx#3686).
@pytest.mark.filterwarnings("ignore:Async generator 'httpx.:ResourceWarning")
async def test_hostile_command_pages_are_refused_and_the_next_command_arrives(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    endless = EndlessBody()
    oversize = page({**ABORT, "note": "x" * MAX_ANSWER_BYTES})
    deep = page({**ABORT, "meta": json.loads("[" * 500 + "]" * 500)})  # json.loads took it
    digits = b'{"commands": [], "cursor": ' + b"1" * 40 + b"}"
    hostile: list[httpx.AsyncByteStream | bytes] = [endless, oversize, deep, digits]
    cloud = HostileCloud(list(hostile))
    received: list[Command] = []

    async def on_command(command: Command) -> None:
        received.append(command)

    cfg = config(tmp_path, "https://cloud.invalid", first_cursor=0)
    caplog.set_level(logging.WARNING, "groundstation.uplink.http")
    with trio.fail_after(60):
        transport = httpx.MockTransport(cloud)
        async with open_http_uplink(cfg, on_command, transport=transport) as uplink:
            await until(lambda: len(received) == 1)
            stats = uplink.stats()
    assert [c.command_id for c in received] == ["good"]
    assert stats["bad_responses"] == len(hostile)
    assert stats["malformed_commands"] == 0
    assert endless.sent <= MAX_ANSWER_BYTES + 2 * 64 * 1024  # cut off, not read for ever
    lines = [r.getMessage() for r in caplog.records]
    for reason in ("oversize", "too_deep", "number_too_long"):  # each named once
        assert sum(f"({reason})" in line for line in lines) == 1, lines


class ImpatientCloud:
    """A double of a cloud (or proxy) that ignores the long poll's `wait` and answers an
    empty page at once; `polls` counts them."""

    def __init__(self) -> None:
        self.polls = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await trio.lowlevel.checkpoint()
        if request.url.path == "/api/messages":
            return httpx.Response(200, json={"accepted": [], "duplicates": []})
        self.polls += 1
        return httpx.Response(200, content=page(cursor=1))


async def test_a_cloud_that_answers_polls_at_once_is_polled_at_most_once_a_second(
    tmp_path: Path,
) -> None:
    """Before, the poll loop went round as fast as the cloud answered: 100 % CPU."""
    cloud = ImpatientCloud()

    async def no_command(command: Command) -> None:
        raise AssertionError(f"no command was sent: {command}")

    async with open_http_uplink(
        config(tmp_path, "http://cloud.invalid"),
        no_command,
        transport=httpx.MockTransport(cloud),
    ):
        await trio.sleep(3.0)
    assert 2 <= cloud.polls <= 4
