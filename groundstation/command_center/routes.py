"""The reference command center's routes: what each path and method of the cloud API does.

Rules (docs/api.openapi.yaml is the contract; tests/groundstation/test_api_conformance.py
checks this module against it):
- A route is (method, path template); `{name}` in a template is one path segment, given
  to the route percent-decoded among its parameters. A trailing slash is ignored.
- A path no route has is 404; a method its path does not have is 405 with `Allow`
  naming the methods it has (RFC 9110, section 15.5.6).
- Query numbers are JSON numbers (`json_numbers`): an integer parameter takes `5` and
  `5.0`, refuses `0.5`; out of its documented range is 400.
- GET /api/commands long-polls: it answers as soon as a command after `after` exists, or
  after `wait` seconds (at most MAX_WAIT) with none. `cursor` in the answer is the last
  command's cursor, or, with none, `after` lowered to the newest cursor that exists: a
  client whose cursor is past everything learns that the service was reset. It marks
  what it answers delivered: it is the ground station's, not the operator's, read.
- GET /api/commands/{command_id} is the operator's read of one command and its status;
  it changes nothing.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..commands import CommandError, parse_command
from ..json_numbers import json_integer
from ..records import BatchTooLarge, InvalidRecords, RecordError, decode_batch
from . import auth
from .auth import Identity
from .faults import Fault, FaultError
from .store import CommandConflict

if TYPE_CHECKING:
    from .server import RequestHandler

MAX_WAIT = 60.0
"""Longest long poll, in seconds: below common proxy and NAT idle timeouts."""
MAX_CURSOR = 2**62
"""Highest `after`: a gateway asks past the end with it to learn the newest cursor."""
_POLL = 0.5
"""Long polls also look at the file this often, for commands queued by the CLI."""
_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class HttpError(Exception):
    """Answer the request with `status`, `headers` and a JSON error body."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error": message, **extra}
        self.headers = dict(headers or {})


Params = dict[str, list[str]]
"""The query's parameters, and the path's (one value each)."""
Route = Callable[["RequestHandler", Identity, Params], tuple[int, Any]]


def find_route(method: str, path: str) -> tuple[Route, str | None, Params]:
    """The route of `method` on `path`, the right it needs and the path's parameters;
    HttpError 404 for a path no route has, 405 (with `Allow`) for a method it lacks."""
    path = path.rstrip("/") or "/"
    methods: dict[str, tuple[Route, str | None, Params]] = {}
    for (known, template), (route, right) in ROUTES.items():
        params = _match(template, path)
        if params is not None:
            methods[known] = (route, right, params)
    if not methods:
        raise HttpError(404, f"no such resource: {path}")
    if method not in methods:
        allow = ", ".join(sorted(methods))
        raise HttpError(405, f"{method} is not allowed on {path}", headers={"Allow": allow})
    return methods[method]


def _match(template: str, path: str) -> Params | None:
    wanted, given = template.split("/"), path.split("/")
    if len(wanted) != len(given):
        return None
    params: Params = {}
    for want, got in zip(wanted, given, strict=True):
        if want.startswith("{") and got:
            params[want.strip("{}")] = [unquote(got)]
        elif want != got:
            return None
    return params


def _query_value(params: Params, name: str, default: float) -> float:
    text = params.get(name, [None])[-1]
    if text is None:
        return default
    if not _JSON_NUMBER.fullmatch(text):
        raise HttpError(400, f"{name} must be a number")
    value: float = json.loads(text)
    return value


def _query_number(params: Params, name: str, default: float, high: float) -> float:
    value = _query_value(params, name, default)
    if not 0 <= value <= high:
        raise HttpError(400, f"{name} must be a number 0-{high}")
    return float(value)


def _query_integer(params: Params, name: str, default: int, low: int, high: int) -> int:
    value = json_integer(_query_value(params, name, default))
    if value is None or not low <= value <= high:
        raise HttpError(400, f"{name} must be an integer {low}-{high}")
    return value


def post_messages(handler: RequestHandler, identity: Identity, _: Params) -> Any:
    try:
        records = decode_batch(handler.read_body(), max_records=handler.server.max_batch)
    except BatchTooLarge as exc:
        raise HttpError(413, str(exc)) from None
    except InvalidRecords as exc:
        why = f"{len(exc.rejected)} invalid record(s); none stored"
        raise HttpError(422, why, rejected=exc.rejected) from None
    except RecordError as exc:
        raise HttpError(400, str(exc)) from None
    stored = handler.server.store.store(records, time.time(), identity.name)
    return 200, {"accepted": stored.accepted, "duplicates": stored.duplicates}


def get_messages(handler: RequestHandler, _: Identity, params: Params) -> Any:
    after = _query_integer(params, "after", 0, 0, MAX_CURSOR)
    limit = _query_integer(params, "limit", 100, 0, 1000)
    msg_type = params.get("msg_type", [None])[-1]
    rows = handler.server.store.records(after=after, limit=limit, msg_type=msg_type)
    messages = [{**record.to_json(), "row": row, "received_at": at} for row, record, at in rows]
    return 200, {"messages": messages, "cursor": rows[-1][0] if rows else after}


def get_commands(handler: RequestHandler, _: Identity, params: Params) -> Any:
    after = _query_integer(params, "after", 0, 0, MAX_CURSOR)
    wait = _query_number(params, "wait", 0, MAX_WAIT)
    limit = _query_integer(params, "limit", 100, 1, 100)
    server = handler.server
    deadline = time.monotonic() + wait
    with server.queued:
        server.waiting += 1
    try:
        while not (found := server.store.commands_after(after, limit)):
            left = deadline - time.monotonic()
            if left <= 0 or server.stopping.is_set():
                break
            with server.queued:
                server.queued.wait(min(left, _POLL))
    finally:
        with server.queued:
            server.waiting -= 1
    cursor = found[-1].cursor if found else min(after, server.store.latest_cursor())
    now = time.time()
    return 200, {"commands": [command.to_json(now) for command in found], "cursor": cursor}


def get_command(handler: RequestHandler, _: Identity, params: Params) -> Any:
    command_id = params["command_id"][0]
    found = handler.server.store.command(command_id)
    if found is None:
        raise HttpError(404, f"no command {command_id!r}")
    return 200, {**found.to_json(time.time()), "reason": found.reason}


def post_commands(handler: RequestHandler, identity: Identity, _: Params) -> Any:
    body = handler.read_json()
    if isinstance(body, dict) and "command_id" not in body:
        body = {**body, "command_id": f"cc-{uuid.uuid4().hex[:16]}"}
    try:
        command = parse_command(body)
    except CommandError as exc:
        raise HttpError(422, str(exc)) from None
    try:
        cursor = handler.server.store.queue(command.to_json(), time.time(), identity.name)
    except CommandConflict as exc:
        raise HttpError(409, str(exc)) from None
    handler.server.notify_queued()
    return 201, {"command_id": command.command_id, "cursor": cursor}


def get_health(handler: RequestHandler, _: Identity, __: Params) -> Any:
    store = handler.server.store
    return 200, {
        "status": "ok",
        "records": store.count(),
        "latest_cursor": store.latest_cursor(),
        "waiting_polls": handler.server.waiting,
    }


def get_faults(handler: RequestHandler, _: Identity, __: Params) -> Any:
    return 200, handler.server.faults.state()


def post_faults(handler: RequestHandler, _: Identity, __: Params) -> Any:
    try:
        fault = Fault.from_json(handler.read_json())
    except FaultError as exc:
        raise HttpError(422, str(exc)) from None
    handler.server.faults.set(fault)
    return 200, handler.server.faults.state()


def delete_faults(handler: RequestHandler, _: Identity, __: Params) -> Any:
    handler.server.faults.clear()
    return 200, handler.server.faults.state()


ROUTES: dict[tuple[str, str], tuple[Route, str | None]] = {
    ("POST", "/api/messages"): (post_messages, auth.POST_MESSAGES),
    ("GET", "/api/messages"): (get_messages, auth.READ_MESSAGES),
    ("GET", "/api/commands"): (get_commands, auth.PULL_COMMANDS),
    ("POST", "/api/commands"): (post_commands, auth.QUEUE_COMMANDS),
    ("GET", "/api/commands/{command_id}"): (get_command, auth.READ_COMMANDS),
    ("GET", "/api/health"): (get_health, None),
    ("GET", "/admin/faults"): (get_faults, auth.INJECT_FAULTS),
    ("POST", "/admin/faults"): (post_faults, auth.INJECT_FAULTS),
    ("DELETE", "/admin/faults"): (delete_faults, auth.INJECT_FAULTS),
}
