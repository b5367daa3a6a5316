"""The progress line: when it appears and what it says."""

from __future__ import annotations

import pytest

from pytest_aicr import progress
from pytest_aicr.progress import Progress


class Lines:
    """Collects what would be written to the terminal."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_line(self, line: str) -> None:
        self.lines.append(line)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def finish(tracker: Progress, clock: Clock, seconds: float) -> None:
    tracker.pytest_runtest_logstart("x", None)
    clock.now += seconds
    report = pytest.TestReport("x", ("f", 0, "x"), {}, "passed", None, "teardown")
    tracker.pytest_runtest_logreport(report)


def test_lines_appear_after_a_while_and_then_now_and_then() -> None:
    clock, out = Clock(), Lines()
    tracker = Progress(out, total=100, clock=clock)
    for _ in range(4):
        finish(tracker, clock, 1.0)
    assert out.lines == []
    finish(tracker, clock, 1.0)
    assert out.lines == ["aicr: 5/100 items done, 0 in flight, 1.0/s, ETA 1m35s"]
    tracker.pytest_runtest_logstart("y", None)
    tracker.pytest_runtest_logstart("z", None)
    for _ in range(9):
        finish(tracker, clock, 1.0)
    assert len(out.lines) == 1
    finish(tracker, clock, 1.0)
    assert out.lines[1] == "aicr: 15/100 items done, 2 in flight, 1.0/s, ETA 1m25s"


def test_no_line_once_everything_finished() -> None:
    clock, out = Clock(), Lines()
    tracker = Progress(out, total=1, clock=clock)
    finish(tracker, clock, 60.0)
    assert out.lines == []


def test_quiet_runs_have_no_progress(
    pytester: pytest.Pytester, monkeypatch, fake_server, endpoint_env, write_jsonl
) -> None:
    from tests.test_end_to_end import SAMPLES, scripted

    monkeypatch.setattr(progress, "FIRST_AFTER", 0.0)
    monkeypatch.setattr(progress, "EVERY", 0.0)
    endpoint_env(fake_server(scripted))
    dataset = write_jsonl("cases.jsonl", SAMPLES[:5])
    args = [f"--aicr-dataset={dataset}", "--aicr-model=m", "-p", "no:xdist"]
    loud = pytester.runpytest(*args)
    loud.stdout.fnmatch_lines(["*aicr: 1/5 items done, 0 in flight*ETA*"])
    quiet = pytester.runpytest(*args, "-q")
    assert "items done" not in quiet.stdout.str()
