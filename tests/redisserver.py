"""A real redis-server on 127.0.0.1 for tests and benchmarks: started, then stopped.

The server comes from the system packages (``apt-get install redis-server``), which
the CI script installs and :func:`find_redis_server` installs when it is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

_START_TIMEOUT = 10.0
_INSTALL_TIMEOUT = 600.0
APT_INSTALL = ["apt-get", "install", "-y", "redis-server"]


def find_redis_server() -> str | None:
    """The redis-server executable; installed from the system packages if missing.

    ``None`` only when it is absent and cannot be installed (no root, no apt-get,
    or the install failed).
    """
    found = _installed()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        for command in (["apt-get", "update"], APT_INSTALL):
            done = subprocess.run(
                command, capture_output=True, timeout=_INSTALL_TIMEOUT, check=False
            )
            if done.returncode != 0:
                return None
        found = _installed()
    return found


def _installed() -> str | None:
    found = shutil.which("redis-server")
    if found is None and Path("/usr/bin/redis-server").is_file():
        found = "/usr/bin/redis-server"
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``with RedisServer() as server:``; ``server.url`` names database 0."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.port = _free_port()
        self._folder = tempfile.TemporaryDirectory(prefix="aicr-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisServer:
        self._process = subprocess.Popen(
            [
                self.executable,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._folder.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
        self._folder.cleanup()
