"""Fixtures for the security tests."""

from __future__ import annotations

import pytest

from .fleet import Fleet


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet()
