"""Fixtures shared by the test modules: two loopback OpenAI-compatible servers.

Each module that asks for them gets its own pair (module scope), reset before every test, so a
test sees only its own requests and faults.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.openai_server import OpenAIServer


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[OpenAIServer, OpenAIServer]]:
    with OpenAIServer(name="primary") as primary, OpenAIServer(name="secondary") as secondary:
        yield primary, secondary


@pytest.fixture
def primary(servers: tuple[OpenAIServer, OpenAIServer]) -> OpenAIServer:
    servers[0].reset()
    return servers[0]


@pytest.fixture
def secondary(servers: tuple[OpenAIServer, OpenAIServer]) -> OpenAIServer:
    servers[1].reset()
    return servers[1]
