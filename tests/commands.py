"""The command line of a pytest run in a child process, for tests and benchmarks."""

from __future__ import annotations

import sys


def pytest_command(*args: str) -> list[str]:
    """``python -m pytest`` with this interpreter, no cache provider, then ``args``."""
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
