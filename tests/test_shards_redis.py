"""Three runners, one Redis key pool: the budget holds across them, merge and gate.

Three shards run as three pytest processes at once (two with two xdist workers
each), all drawing from one key pool in a real redis-server, against a server
that answers 429 to any request over a key's budget. Their merged results must
equal one unsharded run's, and ``aicr gate`` on them must say what the plugin
said about that run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_aicr import cli
from tests.conftest import read_results
from tests.fakeserver import FakeServer, Reply, Script, Seen, comments_reply

REPO = Path(__file__).resolve().parents[1]
KEYS = ["sk-shard-000000000000000000aaaa", "sk-shard-000000000000000000bbbb"]
# The pool widens the window by 5%. With 8 processes on 2 cores the first request
# of a process can reach the server up to about 1 s after its slot (the SDK's first
# call is slow), so the window is 16 s (a 0.8 s margin) with 12 requests in it: the
# same rate, so the same bound, as 3 per 4 s, and the 30 calls still need a second
# window (24 fit in the first), which a per-runner limiter would overrun.
LIMIT, WINDOW = 12, 16.0
SAMPLES = 30
HELPFUL = "This opens the file but never closes it; use a `with` block."
NOISE = "Why not name it differently?"
RULES = ["f1=0.99", "rec=0.1"]
MARKER = re.compile(r"# (S\d\d)")


def _dataset(folder: Path) -> Path:
    """Two thirds positives; the model finds the issue in every other sample."""
    path = folder / "shards.jsonl"
    records = [
        {
            "input_id": f"S{i:02d}",
            "code": f"+handle_{i} = open(path_{i})  # S{i:02d}",
            "outputs": [{"output": HELPFUL if i % 3 else NOISE, "is_like": 0}],
        }
        for i in range(SAMPLES)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _answer(seen: Seen) -> Reply:
    found = MARKER.search(seen.prompt)
    if found is not None and int(found.group(1)[1:]) % 2 == 0:
        return comments_reply(HELPFUL)
    return comments_reply()


def _enforcing(holder: list[FakeServer]) -> Script:
    """Answer 429 to a request over its key's budget, as a provider would."""

    def script(seen: Seen) -> Reply:
        recent = [
            s for s in list(holder[0].seen) if s.key == seen.key and 0 <= seen.at - s.at
        ]
        if sum(1 for s in recent if seen.at - s.at < WINDOW) > LIMIT:
            return Reply(content=None, status=429, headers={"retry-after": "1"})
        return _answer(seen)

    return script


def _start(
    folder: Path, dataset: Path, server: FakeServer, extra: list[str]
) -> subprocess.Popen[str]:
    """One runner: its own pytest process, as a CI job starts it."""
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env.update(
        PYTHONPATH=str(REPO),
        AICR_BASE_URL=server.url,
        AICR_API_KEYS=",".join(KEYS),
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    command += [
        f"--aicr-dataset={dataset}",
        f"--aicr-results={folder / 'results.json'}",
        "--aicr-model=gpt-shard",
        "--color=no",
        f"--rootdir={folder}",
        *extra,
    ]
    return subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = process.communicate(timeout=80)
    return process.returncode, out


def _gate_lines(text: str) -> list[str]:
    return sorted(
        line.strip()
        for line in text.splitlines()
        if line.strip().startswith(("gate FAILED:", "gate passed:"))
    )


@pytest.fixture
def servers(
    fake_server: Callable[[Script], FakeServer],
) -> tuple[FakeServer, FakeServer]:
    """The budget-enforcing server of the sharded run, and a plain one."""
    holder: list[FakeServer] = []
    holder.append(fake_server(_enforcing(holder)))
    return holder[0], fake_server(_answer)


def test_three_runners_share_one_budget_then_merge_and_gate(
    redis_url: str,
    servers: tuple[FakeServer, FakeServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sharded, plain = servers
    run_id = f"shards-{uuid.uuid4().hex}"
    pooled = [
        f"--aicr-limiter={redis_url}",
        f"--aicr-run-id={run_id}",
        f"--aicr-rate-limit={LIMIT}",
        f"--aicr-rate-window={WINDOW:g}",
    ]
    dataset = _dataset(tmp_path)
    started = time.monotonic()
    runners = [
        _start(
            tmp_path / f"s{i}",
            dataset,
            sharded,
            [*pooled, f"--aicr-shard={i}/3", *xdist],
        )
        for i, xdist in [(1, ["-n", "2"]), (2, ["-n", "2"]), (3, ["-p", "no:xdist"])]
    ]
    whole = _start(
        tmp_path / "whole",
        dataset,
        plain,
        [
            "--aicr-rate-limit=10000",
            "--aicr-rate-window=1",
            "-p",
            "no:xdist",
            *(f"--aicr-min={rule}" for rule in RULES),
        ],
    )
    finished = [_finish(runner) for runner in runners]
    wall = time.monotonic() - started
    whole_status, whole_out = _finish(whole)
    for status, out in finished:
        assert status == 0, out
    assert whole_status == 1, whole_out

    tightest = _tightest(sharded.seen)
    assert sharded.over_budget(LIMIT, WINDOW) == 0, f"{LIMIT + 1} in {tightest:.3f} s"
    times = sorted(seen.at for seen in sharded.seen)
    assert len(times) == SAMPLES
    span = times[-1] - times[0]
    bound = SAMPLES / (len(KEYS) * LIMIT / WINDOW)
    with capsys.disabled():
        sys.stdout.write(
            f"\nthree runners: {SAMPLES} calls, first to last request {span:.1f} s, "
            f"bound {bound:.1f} s ({span / bound:.2f} of it); "
            f"wall time with start-up {wall:.1f} s\n"
        )

    merged = tmp_path / "merged.json"
    shards = [str(tmp_path / f"s{i}" / "results.json") for i in (3, 1, 2)]
    assert cli.main(["merge", *shards, "-o", str(merged)]) == 0
    _compare_counts(
        read_results(merged), read_results(tmp_path / "whole" / "results.json")
    )

    capsys.readouterr()
    status = cli.main(["gate", str(merged), *(f"--min={rule}" for rule in RULES)])
    gate_out = capsys.readouterr().out
    assert status == whole_status
    assert _gate_lines(gate_out) == _gate_lines(whole_out)
    assert any(line.startswith("gate FAILED: f1") for line in _gate_lines(gate_out))


def _tightest(seen: list[Seen]) -> float:
    """The shortest time in which one key sent LIMIT + 1 requests."""
    spans = [WINDOW * 10]
    for key in {s.key for s in seen}:
        times = sorted(s.at for s in seen if s.key == key)
        spans += [b - a for a, b in zip(times, times[LIMIT:], strict=False)]
    return min(spans)


def _compare_counts(merged: dict[str, Any], whole: dict[str, Any]) -> None:
    assert {n: v["counts"] for n, v in merged["variants"].items()} == {
        n: v["counts"] for n, v in whole["variants"].items()
    }
    assert merged["variants"] == whole["variants"]
    per_sample = [(s["input_id"], s["counts"]) for s in merged["samples"]]
    assert per_sample == [(s["input_id"], s["counts"]) for s in whole["samples"]]
    assert sum(v["errors"] for v in merged["variants"].values()) == 0
