"""The reference command center where it used to differ from docs/api.openapi.yaml
(issue 17): methods a path lacks, JSON integers, query ranges, and the operator's read
of a command's status."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dialects import event
from groundstation.command_center import CommandCenterServer
from groundstation.records import Record, command_outcome_record
from tests.groundstation import (
    ADMIN_TOKEN,
    GATEWAY_TOKEN,
    OPERATOR_TOKEN,
    bearer,
    running_center,
)


@pytest.fixture
def center(tmp_path: Path) -> Iterator[CommandCenterServer]:
    with running_center(tmp_path / "cc.db") as server:
        yield server


def client(center: CommandCenterServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=center.url, headers=bearer(token), timeout=30)


def abort(command_id: str, **fields: Any) -> dict[str, Any]:
    body = {"command_id": command_id, "uav": 3, "type": "mission_abort"}
    return {**body, "params": {"action": "rtl"}, **fields}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "OPTIONS", "TRACE", "DELETE", "BREW"])
def test_a_method_the_path_lacks_is_405_with_allow_and_json(
    center: CommandCenterServer, method: str
) -> None:
    with client(center, ADMIN_TOKEN) as admin:
        answer = admin.request(method, "/api/messages/")
        assert answer.status_code == 405
        assert answer.headers["Allow"] == "GET, POST"
        assert answer.headers["Content-Type"] == "application/json"
        assert method in answer.json()["error"]
        assert admin.request(method, "/api/commands/op-1").headers["Allow"] == "GET"


def test_head_is_405_without_a_body_and_the_connection_goes_on(
    center: CommandCenterServer,
) -> None:
    host, port = center.server_address[:2]
    with socket.create_connection((str(host), port), timeout=30) as sock:
        sock.sendall(b"HEAD /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    head, _, rest = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405")
    assert b"\r\nAllow: GET" in head
    assert rest.startswith(b"HTTP/1.1 200")  # nothing of the 405's body came between


def test_integers_with_a_zero_fraction_are_taken_as_integers(
    center: CommandCenterServer,
) -> None:
    record = Record("3-1", "detection", "uav-3", "command", 1, 1.0, {}).to_json()
    with client(center, GATEWAY_TOKEN) as gateway, client(center, ADMIN_TOKEN) as admin:
        stored = gateway.post("/api/messages", json={"messages": [{**record, "priority": 1.0}]})
        assert stored.json() == {"accepted": ["3-1"], "duplicates": []}
        queued = admin.post("/api/commands", json=abort("op-1", uav=3.0))
        assert queued.status_code == 201
        fault = admin.post("/admin/faults", json={"mode": "status", "status": 502.0, "count": 1.0})
        assert fault.json()["active"]["status"] == 502
        assert admin.get("/api/health").status_code == 502
        pulled = gateway.get("/api/commands").json()["commands"]
    assert center.store.records()[0][1].priority == 1
    assert type(pulled[0]["uav"]) is int


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        ("/api/commands", {"limit": 0}, 400),
        ("/api/commands", {"limit": 1.0}, 200),
        ("/api/commands", {"after": 2**62}, 200),
        ("/api/commands", {"after": 2**62 + 1}, 400),
        ("/api/commands", {"after": "1_0"}, 400),
        ("/api/commands", {"wait": "nan"}, 400),
        ("/api/messages", {"limit": 0.5}, 400),
        ("/api/messages", {"limit": ""}, 400),  # not the default: a blank value
        ("/api/messages", {"limit": 0}, 200),
        ("/api/messages", {"after": 2**62 + 1}, 400),
    ],
)
def test_query_numbers_are_held_to_the_documented_ranges(
    center: CommandCenterServer, path: str, query: dict[str, Any], status: int
) -> None:
    with client(center, ADMIN_TOKEN) as admin:
        assert admin.get(path, params=query).status_code == status


def test_the_operator_reads_a_command_and_its_status(center: CommandCenterServer) -> None:
    with client(center, OPERATOR_TOKEN) as operator, client(center, GATEWAY_TOKEN) as gateway:
        operator.post("/api/commands", json=abort("op-1"))
        first = operator.get("/api/commands/op-1")
        assert first.status_code == 200
        assert first.json()["status"] == "queued"
        assert first.json()["params"] == {"action": "rtl", "mission_id": 0}
        assert operator.get("/api/commands/op-1").json()["status"] == "queued"  # reading: no change
        gateway.get("/api/commands")
        assert operator.get("/api/commands/op-1").json()["status"] == "delivered"
        outcome = command_outcome_record(
            "op-1", 3, event.EVENT_OUTCOME_FAILED, reason="not armable"
        ).to_json()
        gateway.post("/api/messages", json={"messages": [outcome]})
        final = operator.get("/api/commands/op-1").json()
        assert (final["status"], final["reason"]) == ("failed", "not armable")
        assert operator.get("/api/commands/op-2").status_code == 404
        assert gateway.get("/api/commands/op-1").status_code == 403
    assert httpx.get(f"{center.url}/api/commands/op-1").status_code == 401
