"""Shared fixtures: a fresh broker per test, shut down afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import mqlite


@pytest.fixture
def broker() -> Iterator[mqlite.Broker]:
    """A broker with default limits; shut down at the end of the test."""
    with mqlite.Broker() as b:
        yield b
