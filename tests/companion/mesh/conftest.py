"""Fixtures for the security tests."""

from __future__ import annotations

import pytest

from tests.companion.security.fleet import Fleet


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet()
