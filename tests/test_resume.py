"""A run killed with SIGKILL partway resumes without repeating an answered call.

The run is a real pytest subprocess with its thread pool; the fake server holds
every request once seven have been answered, the test waits until those seven are
in the cache and kills the process with a real SIGKILL, then runs the same command
again to the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from tests.commands import pytest_command
from tests.conftest import WIDE_BUDGET, read_results
from tests.fakeserver import Reply, Seen
from tests.test_end_to_end import EXPECTED, SAMPLES, scripted
from tests.test_resilience import STRATEGIES, identity

ANSWERED_BEFORE_KILL = 7
REPO = Path(__file__).resolve().parent.parent


class HoldAfter:
    """Answers like ``scripted``; in the first phase, holds the request after N."""

    def __init__(self, answers: int) -> None:
        self.answers = answers
        self.phase = 1
        self.answered: dict[int, list[str]] = {1: [], 2: []}
        self.asked: dict[int, list[str]] = {1: [], 2: []}
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(self, seen: Seen) -> Reply:
        phase = self.phase
        self.asked[phase].append(identity(seen))
        if phase == 1 and len(self.answered[1]) >= self.answers:
            self.holding.set()
            self.release.wait(60)
            return Reply(status=503)
        self.answered[phase].append(identity(seen))
        return scripted(seen)


def _wait_for_entries(cache: Path, count: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while len(list(cache.glob("*/*.json"))) < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def command(dataset: Path, results: Path) -> list[str]:
    return pytest_command(
        "-p",
        "no:xdist",
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        *STRATEGIES,
        "--aicr-max-errors=3",
        f"--aicr-results={results}",
    )


def test_a_killed_run_resumes_without_repeating_answered_calls(
    tmp_path: Path, fake_server, write_jsonl
) -> None:
    server_script = HoldAfter(ANSWERED_BEFORE_KILL)
    server = fake_server(server_script)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "AICR_BASE_URL": server.url,
        "AICR_API_KEYS": "sk-resume-test-key-0000000000001234",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTEST_ADDOPTS": WIDE_BUDGET,
    }
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    results = tmp_path / "results.json"
    args = {"cwd": tmp_path, "env": env, "stdout": subprocess.PIPE, "text": True}

    with subprocess.Popen(command(dataset, results), **args) as first:
        held = server_script.holding.wait(120)
        # an answer the server sent is not the client's until it is cached
        stored = _wait_for_entries(tmp_path / ".aicr_cache", ANSWERED_BEFORE_KILL)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        server_script.release.set()
    assert held, "the first run never reached the held request"
    assert stored, "answers the server sent were never cached"
    assert first.returncode == -signal.SIGKILL
    assert not results.exists()
    assert len(server_script.answered[1]) == ANSWERED_BEFORE_KILL

    server_script.phase = 2
    second = subprocess.run(command(dataset, results), **args, timeout=180, check=False)
    assert second.returncode == 0, second.stdout
    assert not set(server_script.asked[2]) & set(server_script.answered[1])
    assert max(Counter(server_script.asked[2]).values()) == 1
    data = read_results(results)
    assert {name: v["counts"] for name, v in data["variants"].items()} == EXPECTED
    assert (tmp_path / ".aicr_cache" / ".gitignore").is_file()
    cached = "".join(p.read_text() for p in (tmp_path / ".aicr_cache").glob("*/*.json"))
    assert "sk-resume-test-key" not in cached
    assert f"cache: {ANSWERED_BEFORE_KILL + 16} hits" in second.stdout
