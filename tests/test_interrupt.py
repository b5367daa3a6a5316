"""Ctrl-C mid-run keeps every finished item, marks the rest, and stops promptly.

Each run is a real pytest subprocess in its own session, so that SIGINT goes to
its whole process group as a terminal's Ctrl-C does (xdist workers included). The
fake server holds the requests of one sample open; the test waits until the other
items are reported, presses Ctrl-C, checks that every process of the run (workers
too) has ended within a bound, then runs the same command again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from tests.commands import pytest_command
from tests.conftest import read_results
from tests.fakeserver import Reply, Seen
from tests.test_end_to_end import SAMPLES

REPO = Path(__file__).resolve().parent.parent
# the last sample: without xdist, items are reported in order
HELD = "J1"
VARIANT = "check@m"
SILENT = {"tp": 0, "fp": 0, "fn": 4, "tn": 2, "ro": 0}
STOP_WITHIN = 20.0


class HoldOne:
    """Answers with no comment; holds the held sample's requests in phase 1."""

    def __init__(self) -> None:
        self.phase = 1
        self.asked: dict[int, list[Seen]] = {1: [], 2: []}
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(self, seen: Seen) -> Reply:
        phase = self.phase
        self.asked[phase].append(seen)
        if phase == 1 and f"# {HELD}" in seen.prompt:
            self.holding.set()
            self.release.wait(60)
            return Reply(status=503)
        return Reply()


def _reported_lines(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)


def _reported(lines: list[str]) -> set[str]:
    """Samples whose item result line was printed (``-v``: ``[ 33%]``)."""
    found = (re.search(r"cases\.jsonl::(\w+)\[", line) for line in lines)
    return {
        match.group(1)
        for line, match in zip(lines, found, strict=True)
        if match and "%]" in line
    }


def _sample_of(seen: Seen) -> str:
    return next(s["input_id"] for s in SAMPLES if f"# {s['input_id']}" in seen.prompt)


def _group_alive(group: int) -> list[int]:
    """Processes of a process group still running (zombies are finished)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _group_ended(group: int) -> bool:
    return not _group_alive(group)


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]])
def test_ctrl_c_keeps_finished_items_and_a_rerun_completes(
    pytester: pytest.Pytester,
    fake_server,
    endpoint_env,
    write_jsonl,
    monkeypatch: pytest.MonkeyPatch,
    mode: list[str],
) -> None:
    script = HoldOne()
    endpoint_env(fake_server(script))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(REPO), os.getenv("PYTHONPATH", "")])
    )
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    results = pytester.path / "results.json"
    workbook = pytester.path / "results.xlsx"
    command = pytest_command(
        "-v",
        *mode,
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        f"--aicr-results={results}",
        f"--aicr-xlsx={workbook}",
    )

    lines: list[str] = []
    first = pytester.popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    reader = threading.Thread(target=_reported_lines, args=(first, lines))
    reader.start()
    try:
        held = _wait_for(script.holding.is_set, 120)
        # most runs report every other item first; a run that does not is still
        # judged by what it reported (see the README's limitations)
        _wait_for(lambda: len(_reported(lines)) >= len(SAMPLES) - 1, 30)
        os.killpg(first.pid, signal.SIGINT)
        pressed = time.monotonic()
        first.wait(STOP_WITHIN + 30)
        _wait_for(lambda: not _group_alive(first.pid), STOP_WITHIN + 30)
        stopped_after = time.monotonic() - pressed
    finally:
        if _group_alive(first.pid):
            os.killpg(first.pid, signal.SIGKILL)
        script.release.set()
        reader.join(10)
        assert first.stdout is not None
        first.stdout.close()
    output = "".join(lines)
    assert held, output
    assert stopped_after < STOP_WITHIN, output
    assert first.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "INTERNALERROR" not in output

    reported = _reported(lines)
    data = read_results(results)
    assert data["complete"] is False
    assert data["lost"] == []
    assert {s["input_id"] for s in data["samples"]} == reported
    not_run = [e["input_id"] for e in data["not_run"]]
    assert HELD in not_run
    assert sorted([*not_run, *reported]) == sorted(s["input_id"] for s in SAMPLES)
    assert data["variants"][VARIANT]["missing"] == len(not_run)
    assert re.search(r"=+ aicr evaluation: INCOMPLETE =+", output), output
    assert f"not run ({len(not_run)}): " in output
    from openpyxl import load_workbook

    rows = list(load_workbook(workbook)["items"].iter_rows(values_only=True))
    assert (HELD, VARIANT, None, "not run") in [row[:4] for row in rows]
    assert len(rows) == 1 + len(SAMPLES)

    script.phase = 2
    second = subprocess.run(
        command,
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert second.returncode == 0, second.stdout
    data = read_results(results)
    assert data["complete"] is True
    assert data["not_run"] == []
    assert data["variants"][VARIANT]["counts"] == SILENT
    # the rerun asks only for unreported samples, each once
    asked = [_sample_of(seen) for seen in script.asked[2]]
    assert HELD in asked
    assert set(asked) <= set(not_run)
    assert len(asked) == len(set(asked))


def _busy_embedding_reply(seen: Seen) -> Reply:
    """Many comments, answered quickly, so some chain is always embedding."""
    texts = [f"Comment {i} on the loop guard of {seen.prompt[-12:]}" for i in range(40)]
    return Reply(content=json.dumps({"comments": [{"comment": t} for t in texts]}))


@pytest.mark.parametrize(
    ("stop", "mode", "runs"),
    [
        (signal.SIGINT, ["-p", "no:xdist"], 3),
        (signal.SIGTERM, ["-p", "no:xdist"], 1),
        (signal.SIGTERM, ["-n", "2"], 1),
    ],
    ids=["ctrl-c", "sigterm", "sigterm-xdist"],
)
def test_stopping_while_chains_embed_always_exits_2(
    pytester: pytest.Pytester,
    fake_server,
    endpoint_env,
    write_jsonl,
    monkeypatch: pytest.MonkeyPatch,
    stop: signal.Signals,
    mode: list[str],
    runs: int,
) -> None:
    """SIGINT or SIGTERM to the run's processes: exit 2, results kept, none left."""
    server = fake_server(_busy_embedding_reply)
    endpoint_env(server)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(REPO), os.getenv("PYTHONPATH", "")])
    )
    outputs = [
        {"output": f"Human comment {j} about the loop in sample {i}", "is_like": j % 3}
        for i in range(40)
        for j in range(20)
    ]
    samples = [
        {"input_id": f"S{i}", "code": f"+x = {i} # S{i}", "outputs": outputs[i::40]}
        for i in range(40)
    ]
    dataset = write_jsonl("cases.jsonl", samples)
    for run in range(runs):
        results = pytester.path / f"results{run}.json"
        process = subprocess.Popen(
            pytest_command(
                "-q",
                *mode,
                f"--aicr-dataset={dataset}",
                "--aicr-model=m",
                f"--aicr-results={results}",
                f"--aicr-cache-dir={pytester.path / f'cache{run}'}",
            ),
            cwd=pytester.path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        # four chains run at once: later requests mean the model is loaded and
        # every chain thread is embedding an answer or about to
        answered = _wait_for(lambda: len(server.seen) >= 8, 120)
        os.killpg(process.pid, stop)
        try:
            output, _ = process.communicate(timeout=STOP_WITHIN + 30)
            ended = _wait_for(partial(_group_ended, process.pid), STOP_WITHIN)
        finally:
            if _group_alive(process.pid):
                os.killpg(process.pid, signal.SIGKILL)
        assert answered, output
        assert ended, output
        assert process.returncode == pytest.ExitCode.INTERRUPTED, output
        assert "terminate called" not in output
        assert "INCOMPLETE" in output
        assert read_results(results)["complete"] is False
        server.seen.clear()
