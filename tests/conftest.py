"""Shared fixtures. `report` collects figures that the run prints in its summary."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_REPORT: list[str] = []


@pytest.fixture
def report() -> Callable[[str], None]:
    """Call with a line to print it in the terminal summary (figures a test measured)."""
    return _REPORT.append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _REPORT:
        terminalreporter.section("figures")
        for line in _REPORT:
            terminalreporter.write_line(line)
