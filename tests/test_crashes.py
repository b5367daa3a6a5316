"""A worker that dies mid-item under ``-n 2`` loses that item, and only that one.

Each run is a real pytest subprocess against the scripted fake server. A conftest
in the run's folder makes one worker die once, the first time it starts the
victim item: by ``os._exit`` or by a real SIGKILL. The same command run again
finishes from the cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import read_results
from tests.fakeserver import Reply, Seen
from tests.test_end_to_end import SAMPLES

REPO = Path(__file__).resolve().parent.parent
VICTIM = "N1"
VARIANT = "check-review@m"
# the server finds nothing to say, so no embedding model is loaded
SILENT = {"tp": 0, "fp": 0, "fn": 4, "tn": 2, "ro": 0}

DYING_WORKER = """
import os, signal
from pathlib import Path

def pytest_runtest_call(item):
    marker = Path(str(item.config.rootpath), "die-once")
    if item.name.startswith("{victim}[") and marker.exists():
        how = marker.read_text()
        marker.unlink()
        if how == "exit":
            os._exit(3)
        os.kill(os.getpid(), signal.SIGKILL)
"""


class Counting:
    """Answers every request with no comment, and counts the requests."""

    def __init__(self) -> None:
        self.asked: list[Seen] = []

    def __call__(self, seen: Seen) -> Reply:
        self.asked.append(seen)
        return Reply()


def _cache_entries(root: Path) -> int:
    return len(list((root / ".aicr_cache").glob("*/*.json")))


@pytest.mark.parametrize(
    ("how", "options"),
    [
        ("exit", []),
        ("kill", []),
        ("exit", ["--max-worker-restart=0"]),
    ],
)
def test_a_dead_worker_loses_only_its_item_and_a_rerun_finishes_it(
    pytester: pytest.Pytester,
    fake_server,
    endpoint_env,
    write_jsonl,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    options: list[str],
) -> None:
    script = Counting()
    endpoint_env(fake_server(script))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(REPO), os.getenv("PYTHONPATH", "")])
    )
    pytester.makeconftest(DYING_WORKER.format(victim=VICTIM))
    (pytester.path / "die-once").write_text(how)
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    results = pytester.path / "results.json"
    command = [
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-strategy=check-review",
        f"--aicr-results={results}",
        *options,
    ]

    first = pytester.runpytest_subprocess(*command, timeout=180)
    output = first.stdout.str()
    assert first.ret == 1, output
    assert "INTERNALERROR" not in output
    data = read_results(results)
    assert data["complete"] is False
    assert data["lost"] == [
        {
            "input_id": VICTIM,
            "variant": VARIANT,
            "nodeid": f"cases.jsonl::{VICTIM}[{VARIANT.replace('@', '_')}]",
        }
    ]
    scored = {s["input_id"] for s in data["samples"]}
    unrun = {s["input_id"] for s in data["not_run"]}
    assert VICTIM not in scored | unrun
    assert scored | unrun | {VICTIM} == {s["input_id"] for s in SAMPLES}
    if not options:
        assert not unrun
    figures = data["variants"][VARIANT]
    assert figures["samples"] == len(scored)
    assert figures["missing"] == 1 + len(unrun)
    first.stdout.fnmatch_lines(
        [
            "*aicr evaluation: INCOMPLETE*",
            f"{VARIANT}: {len(scored)} items (* missing: metrics over fewer items)",
            f"INCOMPLETE run: metrics cover {len(scored)} of 6 items*",
            f"lost with a crashed worker (1): {VICTIM} [{VARIANT}]",
        ]
    )

    cached = _cache_entries(pytester.path)
    script.asked.clear()
    second = pytester.runpytest_subprocess(*command, timeout=180)
    assert second.ret == 0, second.stdout.str()
    data = read_results(results)
    assert data["complete"] is True
    assert data["lost"] == data["not_run"] == []
    assert data["variants"][VARIANT]["counts"] == SILENT
    assert data["variants"][VARIANT]["missing"] == 0
    # every request of the rerun was one the first run had no answer for
    assert len(script.asked) == _cache_entries(pytester.path) - cached
