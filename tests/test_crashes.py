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

from pytest_aicr import cli
from tests.conftest import read_results
from tests.fakeserver import Reply, Seen
from tests.test_end_to_end import SAMPLES, scripted

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
    capsys: pytest.CaptureFixture[str],
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
    # the dead worker sent no call statistics: the figures say they are partial
    (dead,) = data["run"]["calls"]["partial"]
    assert dead.startswith("gw")
    first.stdout.fnmatch_lines(
        [f"key and cache figures are partial: the calls of crashed worker(s) {dead} *"]
    )

    _judged_incomplete_by_the_commands(results, capsys)

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


def _judged_incomplete_by_the_commands(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``aicr gate`` fails an incomplete file; ``aicr merge`` keeps it incomplete."""
    capsys.readouterr()
    assert cli.main(["gate", str(results), "--min=acc=0"]) == 1
    out = capsys.readouterr().out
    assert "gate passed: acc = " in out
    assert "INCOMPLETE run: metrics cover " in out
    assert f"lost with a crashed worker (1): {VICTIM} [{VARIANT}]" in out
    merged = results.with_name("merged.json")
    assert cli.main(["merge", str(results), "-o", str(merged)]) == 0
    assert f"{results} is incomplete (1 lost" in capsys.readouterr().out
    data = read_results(merged)
    assert data["complete"] is False
    assert [entry["input_id"] for entry in data["lost"]] == [VICTIM]
    assert data["variants"][VARIANT]["missing"] >= 1


def test_items_left_by_x_make_the_run_fail_even_with_errors_tolerated(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(scripted))
    # J1's answer is unreadable: an item error, tolerated, that -x stops on
    dataset = write_jsonl("cases.jsonl", [SAMPLES[0], SAMPLES[-1], *SAMPLES[1:-1]])
    results = pytester.path / "results.json"
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-max-errors=1",
        "--aicr-min=acc=0",
        f"--aicr-results={results}",
        "-x",
        "-p",
        "no:xdist",
    )
    assert outcome.ret == pytest.ExitCode.TESTS_FAILED, outcome.stdout.str()
    data = read_results(results)
    assert data["complete"] is False
    assert [entry["input_id"] for entry in data["not_run"]] == [
        s["input_id"] for s in SAMPLES[1:-1]
    ]
    outcome.stdout.fnmatch_lines(
        [
            "gate passed: acc *",
            "INCOMPLETE run: metrics cover 2 of 6 items; no gate can pass on it",
            "not run (4): P2 [check@m], N1 [check@m], N2 [check@m], O1 [check@m]",
        ]
    )
