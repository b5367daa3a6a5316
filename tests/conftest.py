"""Shared fixtures: datasets written to disk and the scripted fake server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import scipy.optimize  # noqa: F401
import sentence_transformers  # noqa: F401
import torch  # noqa: F401

# In-process pytester runs drop modules first imported during the run; C extensions
# cannot be loaded twice, so the heavy ones are imported once here, and the shared
# embedding model stays loaded across runs.
import pytest_aicr.matching
import pytest_aicr.session  # noqa: F401
from tests.fakeserver import FakeServer, Script

LONG_KEY = "sk-test-0000000000000000wxyz"
WIDE_BUDGET = "--aicr-rate-limit=10000 --aicr-rate-window=1"


@pytest.fixture
def write_jsonl(
    pytester: pytest.Pytester,
) -> Callable[[str, list[dict[str, Any]]], Path]:
    """Write records as JSONL in the pytester rootdir and return the file."""

    def write(name: str, records: list[dict[str, Any]]) -> Path:
        path = pytester.path / name
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
            encoding="utf-8",
        )
        return path

    return write


@pytest.fixture
def fake_server() -> Iterator[Callable[[Script], FakeServer]]:
    """Start scripted servers on 127.0.0.1; all are stopped after the test."""
    started: list[FakeServer] = []

    def start(script: Script) -> FakeServer:
        server = FakeServer(script).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


@pytest.fixture
def endpoint_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeServer], None]:
    """Point the plugin at a fake server with one long test key.

    The key's budget is wide, so tests that are not about rate limits never wait.
    """

    def use(server: FakeServer) -> None:
        monkeypatch.setenv("AICR_BASE_URL", server.url)
        monkeypatch.setenv("AICR_API_KEYS", LONG_KEY)
        monkeypatch.setenv("PYTEST_ADDOPTS", WIDE_BUDGET)

    return use


def read_results(path: Path) -> dict[str, Any]:
    """Load a results JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free port of 127.0.0.1 for the whole session."""
    from tests.redisserver import RedisServer, find_redis_server

    executable = find_redis_server()
    if executable is None:
        pytest.skip(
            "redis-server is not installed and could not be installed: "
            "run apt-get install -y redis-server as root"
        )
    with RedisServer(executable) as server:
        yield server.url
