"""Shared fixtures. `report` collects figures that the run prints in its summary."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import settings

from tests.companion.security.fleet import Fleet

# No per-example deadline: on a shared 2-core machine a handshake-heavy example can take
# longer than Hypothesis's default 200 ms, which would fail a correct test at random.
settings.register_profile("event", deadline=None, print_blob=True)
settings.load_profile("event")

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
