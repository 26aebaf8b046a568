"""Shared fixtures. `report` collects figures that the run prints in its summary."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.companion.security.fleet import Fleet

_REPORT: list[str] = []


@pytest.fixture
def report() -> Callable[[str], None]:
    """Call with a line to print it in the terminal summary (figures a test measured)."""
    return _REPORT.append


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    """A fleet authority for the module's tests, with certificates valid from NOW_WALL."""
    return Fleet()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _REPORT:
        terminalreporter.section("figures")
        for line in _REPORT:
            terminalreporter.write_line(line)
