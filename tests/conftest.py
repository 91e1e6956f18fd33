"""Shared fixtures: a real emulator on 127.0.0.1 for each test that asks for one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from target_kibo_inventory.emulator.server import Emulator
from tests.helpers import EmulatorClient

TENANT = "test-tenant"
API_KEY = "test-key-0123456789"
API_SECRET = "test-secret-9876543210"


@pytest.fixture
def emulator() -> Iterator[EmulatorClient]:
    """A fresh emulator serving real HTTP on a free port of 127.0.0.1."""
    server = Emulator(TENANT, API_KEY, API_SECRET, token_ttl=3600)
    url = server.start("127.0.0.1", 0)
    yield EmulatorClient(url, TENANT, API_KEY, API_SECRET)
    server.stop()
