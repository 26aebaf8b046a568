"""The reference command center: API, auth by role, idempotent storage, long polls, faults,
and its command line (a real `serve` process)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from dialects import event
from groundstation.command_center import (
    CommandCenterServer,
    CommandCenterStore,
    Fault,
    StoreError,
    TokenFileError,
    Tokens,
)
from groundstation.command_center.routes import ROUTES
from groundstation.records import Record, command_outcome_record
from tests.groundstation import (
    ADMIN_TOKEN,
    GATEWAY_TOKEN,
    OPERATOR_TOKEN,
    bearer,
    running_center,
)

ROOT = Path(__file__).resolve().parents[2]


def record(msg_id: str, **payload: Any) -> dict[str, Any]:
    return Record(msg_id, "detection", "uav-3", "command", 1, 1_750_000_000.0, payload).to_json()


@pytest.fixture
def center(tmp_path: Path) -> Iterator[CommandCenterServer]:
    with running_center(tmp_path / "cc.db", max_body=20_000, max_batch=50) as server:
        yield server


@pytest.fixture
def gateway(center: CommandCenterServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=center.url, headers=bearer(GATEWAY_TOKEN), timeout=30) as client:
        yield client


@pytest.fixture
def operator(center: CommandCenterServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=center.url, headers=bearer(OPERATOR_TOKEN), timeout=30) as client:
        yield client


def test_health_needs_no_token(center: CommandCenterServer) -> None:
    answer = httpx.get(f"{center.url}/api/health")
    assert answer.status_code == 200
    assert answer.json()["records"] == 0


@pytest.mark.parametrize(
    ("token", "method", "path", "status"),
    [
        (None, "POST", "/api/messages", 401),
        ("wrong", "POST", "/api/messages", 401),
        (GATEWAY_TOKEN, "POST", "/api/commands", 403),
        (GATEWAY_TOKEN, "GET", "/api/messages", 403),
        (GATEWAY_TOKEN, "POST", "/admin/faults", 403),
        (OPERATOR_TOKEN, "POST", "/api/messages", 403),
        (OPERATOR_TOKEN, "GET", "/api/commands", 403),
        (ADMIN_TOKEN, "GET", "/api/nothing", 404),
        (ADMIN_TOKEN, "DELETE", "/api/messages", 405),
    ],
)
def test_each_role_may_do_only_its_part(
    center: CommandCenterServer, token: str | None, method: str, path: str, status: int
) -> None:
    headers = {} if token is None else bearer(token)
    body = {"uav": 3, "type": "mission_abort", "params": {"action": "rtl"}}
    answer = httpx.request(method, f"{center.url}{path}", headers=headers, json=body)
    assert answer.status_code == status
    assert "error" in answer.json()
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_refusal_before_the_body_is_read_keeps_the_connection_usable(
    center: CommandCenterServer,
) -> None:
    with httpx.Client(base_url=center.url, headers=bearer("wrong"), timeout=30) as client:
        for _ in range(3):  # one keep-alive connection: a left-over body would be misread
            answer = client.post("/api/messages", json={"messages": [record("3-1")]})
            assert answer.status_code == 401
        assert client.get("/api/health").status_code == 200


def test_records_are_stored_once_by_id(
    gateway: httpx.Client, operator: httpx.Client, center: CommandCenterServer
) -> None:
    first = gateway.post("/api/messages", json={"messages": [record("3-1"), record("3-2")]})
    assert first.json() == {"accepted": ["3-1", "3-2"], "duplicates": []}
    again = gateway.post(
        "/api/messages", json={"messages": [record("3-2"), record("3-3"), record("3-3")]}
    )
    assert again.json() == {"accepted": ["3-3"], "duplicates": ["3-2", "3-3"]}
    stored = operator.get("/api/messages", params={"limit": 10}).json()
    assert [m["msg_id"] for m in stored["messages"]] == ["3-1", "3-2", "3-3"]
    assert Record.from_json(stored["messages"][0]) == Record.from_json(record("3-1"))
    assert (
        operator.get("/api/messages", params={"after": stored["cursor"]}).json()["messages"] == []
    )
    assert center.store.records()[0][1].msg_id == "3-1"


def test_a_batch_with_bad_records_is_refused_naming_each(
    gateway: httpx.Client, center: CommandCenterServer
) -> None:
    bad = {**record("3-9"), "priority": 7}
    answer = gateway.post(
        "/api/messages", json={"messages": [record("3-8"), bad, {"msg_id": "x"}, 5]}
    )
    assert answer.status_code == 422
    rejected = answer.json()["rejected"]
    assert [(r["index"], r["msg_id"]) for r in rejected] == [(1, "3-9"), (2, "x"), (3, None)]
    assert "priority" in rejected[0]["error"]
    assert center.store.count() == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[" * 5000, 400),  # nested past the JSON reader's recursion limit
        (b'{"records": []}', 400),
        (json.dumps({"messages": [record(f"3-{i}") for i in range(51)]}).encode(), 413),
        (json.dumps({"messages": [record("3-1", blob="x" * 20_000)]}).encode(), 413),
    ],
)
def test_bodies_that_are_not_batches(gateway: httpx.Client, body: bytes, status: int) -> None:
    answer = gateway.post("/api/messages", content=body)
    assert answer.status_code == status
    assert gateway.get("/api/commands").status_code == 200  # the connection still works


def test_a_body_without_length_is_refused(center: CommandCenterServer) -> None:
    host, port = center.server_address[:2]
    with socket.create_connection((str(host), port), timeout=30) as sock:
        request = (
            f"POST /api/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {GATEWAY_TOKEN}"
            "\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(request.encode())
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 411")


def test_commands_are_validated_queued_once_and_conflicts_refused(
    operator: httpx.Client,
) -> None:
    body = {"command_id": "op-7", "uav": 3, "type": "mission_abort", "params": {"action": "rtl"}}
    first = operator.post("/api/commands", json=body)
    assert first.status_code == 201
    assert operator.post("/api/commands", json=body).json() == first.json()
    clash = {**body, "params": {"action": "land"}}
    assert operator.post("/api/commands", json=clash).status_code == 409
    assert operator.post("/api/commands", content=b"[" * 5000).status_code == 400
    invalid = operator.post("/api/commands", json={**body, "command_id": "op-8", "uav": 0})
    assert invalid.status_code == 422
    assert "uav" in invalid.json()["error"]
    jump = {"uav": 4, "type": "retask", "params": {"mode": "jump", "item": 2}}
    generated = operator.post("/api/commands", json=jump)
    assert generated.json()["command_id"].startswith("cc-")
    assert generated.json()["cursor"] == first.json()["cursor"] + 1


async def test_a_long_poll_answers_when_a_command_is_queued(
    center: CommandCenterServer,
) -> None:
    async with httpx.AsyncClient(base_url=center.url, timeout=60) as client:
        answers: list[httpx.Response] = []

        async def poll() -> None:
            params = {"after": 0, "wait": 50}
            answers.append(
                await client.get("/api/commands", params=params, headers=bearer(GATEWAY_TOKEN))
            )

        async with trio.open_nursery() as nursery:
            started = time.monotonic()
            nursery.start_soon(poll)
            with trio.fail_after(30):
                while (await client.get("/api/health")).json()["waiting_polls"] != 1:
                    await trio.sleep(0.02)
            body = {"command_id": "c1", "uav": 5, "type": "mission_abort",
                    "params": {"action": "hold"}}  # fmt: skip
            queued = await client.post("/api/commands", json=body, headers=bearer(ADMIN_TOKEN))
            assert queued.status_code == 201
        assert time.monotonic() - started < 50  # woken by the queue, not by the wait
        answer = answers[0].json()
        assert [c["command_id"] for c in answer["commands"]] == ["c1"]
        assert answer["cursor"] == answer["commands"][0]["cursor"]
        assert answer["commands"][0]["queued_at"] > 0


def test_a_cursor_past_the_end_learns_the_newest(
    gateway: httpx.Client, center: CommandCenterServer
) -> None:
    center.store.queue({"command_id": "a"}, 1.0, "test")
    answer = gateway.get("/api/commands", params={"after": 2**40, "wait": 0}).json()
    assert answer == {"commands": [], "cursor": 1}
    assert gateway.get("/api/commands", params={"wait": 61}).status_code == 400


def test_ack_records_set_the_command_status(
    gateway: httpx.Client, center: CommandCenterServer
) -> None:
    body = {"command_id": "op-1", "uav": 3, "type": "mission_abort", "params": {"action": "rtl"}}
    center.store.queue(body, time.time(), "test")
    assert center.store.commands()[0].status == "queued"
    gateway.get("/api/commands", params={"after": 0})
    assert center.store.commands()[0].status == "delivered"
    completed = command_outcome_record("op-1", 3, event.EVENT_OUTCOME_COMPLETED, reason="RTL")
    accepted = command_outcome_record("op-1", 3, event.EVENT_OUTCOME_ACCEPTED)
    for ack in (completed, accepted):  # the late "accepted" does not undo "completed"
        gateway.post("/api/messages", json={"messages": [ack.to_json()]})
    (status,) = center.store.commands()
    assert (status.status, status.reason) == ("completed", "RTL")


def test_faults_are_admin_only_counted_and_end(center: CommandCenterServer) -> None:
    with httpx.Client(base_url=center.url, headers=bearer(ADMIN_TOKEN), timeout=30) as admin:
        assert admin.post("/admin/faults", json={"mode": "fly"}).status_code == 422
        admin.post("/admin/faults", json={"mode": "status", "status": 503, "count": 2})
        assert [admin.get("/api/health").status_code for _ in range(3)] == [503, 503, 200]
        admin.post("/admin/faults", json={"mode": "drop"})
        with pytest.raises(httpx.RemoteProtocolError):
            admin.get("/api/health")
        admin.post("/admin/faults", json={"mode": "hang", "hang": 0.1})
        with pytest.raises(httpx.RemoteProtocolError):
            admin.get("/api/health")
        state = admin.get("/admin/faults").json()
        assert state["served"] == {"status": 2, "drop": 1, "hang": 1}
        admin.delete("/admin/faults")
        assert admin.get("/api/health").status_code == 200


def test_a_lost_answer_leaves_the_work_done(
    center: CommandCenterServer, gateway: httpx.Client
) -> None:
    center.faults.set(Fault(mode="lose", count=1))
    with pytest.raises(httpx.RemoteProtocolError):
        gateway.post("/api/messages", json={"messages": [record("3-5")]})
    again = gateway.post("/api/messages", json={"messages": [record("3-5")]})
    assert again.json() == {"accepted": [], "duplicates": ["3-5"]}


def test_token_files(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    digest = "a" * 64
    path.write_text(
        f'[tokens.gs]\nrole = "gateway"\ntoken = "t1"\n[tokens.op]\nrole = "operator"\n'
        f'sha256 = "{digest}"\n'
    )
    tokens = Tokens.load(path)
    gs = tokens.identify("Bearer t1")
    assert gs is not None
    assert (gs.name, gs.role) == ("gs", "gateway")
    assert tokens.identify("Basic t1") is None
    assert tokens.identify("Bearer t2") is None
    bad = [
        "[tokens.gs]\nrole = 'pilot'\ntoken = 'x'\n",
        "[tokens.gs]\nrole = 'gateway'\n",
        "[tokens.gs]\nrole = 'gateway'\ntoken = 'x'\nsha256 = 'y'\n",
        "[tokens.a]\nrole = 'gateway'\ntoken = 'x'\n[tokens.b]\nrole = 'admin'\ntoken = 'x'\n",
        "tokens = 3",
        "not toml [",
    ]
    for text in bad:
        path.write_text(text)
        with pytest.raises(TokenFileError):
            Tokens.load(path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    CommandCenterStore(tmp_path / "cc.db").close()
    with sqlite3.connect(tmp_path / "cc.db") as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        CommandCenterStore(tmp_path / "cc.db")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "groundstation.command_center", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_command_line_serves_queues_and_lists(tmp_path: Path) -> None:
    db = str(tmp_path / "cc.db")
    made = cli("token", "--identity", "gs", "--role", "gateway")
    token = made.stdout.splitlines()[0].removeprefix("token: ")
    (tmp_path / "tokens.toml").write_text("\n".join(made.stdout.splitlines()[1:]) + "\n")
    serve = subprocess.Popen(
        [sys.executable, "-m", "groundstation.command_center", "serve", "--db", db,
         "--port", "0", "--token-file", str(tmp_path / "tokens.toml")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert serve.stdout is not None
        url = serve.stdout.readline().split(" on ")[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, headers=bearer(token), timeout=30) as client:
            posted = client.post("/api/messages", json={"messages": [record("3-1")]})
            assert posted.json()["accepted"] == ["3-1"]
            queued = cli("queue", "--db", db, "--uav", "3", "--type", "mission_abort",
                         "--params", '{"action": "rtl"}')  # fmt: skip
            assert queued.returncode == 0, queued.stderr
            command_id = json.loads(queued.stdout)["command_id"]
            pulled = client.get("/api/commands", params={"after": 0, "wait": 10}).json()
            assert [c["command_id"] for c in pulled["commands"]] == [command_id]
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err
    listed = [json.loads(line) for line in cli("list", "--db", db).stdout.splitlines()]
    assert [r["msg_id"] for r in listed] == ["3-1"]
    commands = cli("list", "--db", db, "--commands").stdout.splitlines()
    assert json.loads(commands[0])["status"] == "delivered"
    refused = cli("queue", "--db", db, "--uav", "0", "--type", "mission_abort",
                  "--params", '{"action": "rtl"}')  # fmt: skip
    assert (refused.returncode, refused.stderr.count("\n")) == (2, 1)
    assert "uav" in refused.stderr
    missing = cli("serve", "--db", db, "--token-file", os.devnull)
    assert missing.returncode == 2
    assert "no [tokens" in missing.stderr


def test_the_openapi_document_lists_exactly_the_served_routes() -> None:
    """docs/api.openapi.yaml against ROUTES, read line by line (no YAML parser needed)."""
    documented: set[tuple[str, str]] = set()
    path = ""
    for line in (ROOT / "docs" / "api.openapi.yaml").read_text().splitlines():
        if re.fullmatch(r"  /\S+:", line):
            path = line.strip().removesuffix(":")
        elif path and (method := re.fullmatch(r"    (get|post|put|patch|delete):", line)):
            documented.add((method.group(1).upper(), path))
        elif not line.startswith(" ") and line:
            path = ""
    assert documented == set(ROUTES)
