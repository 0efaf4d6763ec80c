"""Fixtures for the security tests: hashing that runs in microseconds."""

from __future__ import annotations

import pytest

from soc.security.passwords import PasswordHashing
from tests.unit.security.helpers import SpyHasher, cheap


@pytest.fixture
def hashing() -> PasswordHashing:
    return PasswordHashing(cheap())


@pytest.fixture
def spy() -> SpyHasher:
    return SpyHasher()
