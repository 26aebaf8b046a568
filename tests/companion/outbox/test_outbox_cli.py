"""`event-outbox`: summary table, JSON summary, export, and clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from companion.outbox import OutboxItem, Store
from companion.outbox.cli import main
from companion.reliability.priority import Priority

NOW = 1_750_000_000.0


@pytest.fixture
def outbox_file(tmp_path: Path) -> Path:
    path = tmp_path / "o.db"
    store = Store.open(path)
    store.enqueue_many(
        [
            OutboxItem(
                key="a", destination=3, priority=Priority.HIGH, payload=b"\x01\x02", created=NOW
            ),
            OutboxItem(key="b", destination=5, priority=Priority.LOW, payload=b"\xff", created=NOW),
            OutboxItem(
                key="c", destination=5, priority=Priority.CRITICAL, payload=b"", created=NOW
            ),
        ],
        NOW,
    )
    store.mark_in_flight([2])
    store.expire(NOW + 10)  # c expires
    store.close()
    return path


def test_summary_table(outbox_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(outbox_file)]) == 0
    out = capsys.readouterr().out
    assert "by_priority     HIGH=1, LOW=1" in out
    assert "by_destination  3=1, 5=1" in out
    assert "expiries        1" in out


def test_json_summary(outbox_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(outbox_file), "--json-lines"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["depth"] == 2
    assert figures["in_flight"] == 1
    assert (figures["evictions"], figures["expiries"], figures["quarantined"]) == (0, 1, 0)
    assert figures["oldest_age_s"] > 0


def test_export_pending_as_json_lines(
    outbox_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(outbox_file), "--export"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["key"], r["priority"], r["payload"]) for r in rows] == [("a", "HIGH", "0102")]


@pytest.mark.parametrize("content", [None, b"garbage" * 1000])
def test_errors_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None
) -> None:
    path = tmp_path / "x.db"
    if content is not None:
        path.write_bytes(content)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("event-outbox: ")
    assert "Traceback" not in err
    assert not path.exists() or content is not None  # never created
