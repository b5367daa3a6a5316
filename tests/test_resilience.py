"""Whole runs against a misbehaving endpoint end with a clean run's counts.

Faults are injected by the fake server on 127.0.0.1; backoff bases are made small
through the ini/command-line settings so that no test waits for real minutes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WIDE_BUDGET, read_results
from tests.fakeserver import FakeServer, Reply, Script, Seen
from tests.test_end_to_end import EXPECTED, SAMPLES, scripted

KEYS = [f"sk-resilience-test-key-{n}-{n}{n}{n}{n}" for n in "abc"]
FAST = ["--aicr-retry-base=0.01", "--aicr-timeout=0.5", "--aicr-max-errors=3"]
STRATEGIES = (
    "--aicr-strategy=check",
    "--aicr-strategy=check-review",
    "--aicr-strategy=check-reflect-review",
)


def identity(seen: Seen) -> str:
    return hashlib.sha1(f"{seen.model}\n{seen.prompt}".encode()).hexdigest()


class Faulty:
    """Wraps a script: a share of first attempts fail in one of four ways."""

    KINDS = ("429", "500", "timeout", "reset")

    def __init__(self, script: Script) -> None:
        self.script = script
        self.attempts: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, seen: Seen) -> Reply:
        name = identity(seen)
        with self._lock:
            self.attempts[name] += 1
            first = self.attempts[name] == 1
        digest = int(name[:8], 16)
        if not first or digest % 3 == 0:
            return self.script(seen)
        kind = self.KINDS[digest % 4]
        with self._lock:
            self.injected[kind] += 1
        if kind == "429":
            header = {"Retry-After": "1"} if digest % 2 else {"retry-after-ms": "30"}
            return Reply(status=429, headers=header)
        if kind == "500":
            return Reply(status=500, body="<html>Internal Server Error</html>")
        if kind == "timeout":
            return Reply(delay=1.0)
        return Reply(reset=True)


def evaluate(
    pytester: pytest.Pytester,
    dataset: Path,
    *args: str,
    strategies: tuple[str, ...] = STRATEGIES,
) -> tuple[pytest.RunResult, dict[str, Any]]:
    results = pytester.path / f"results-{time.monotonic_ns()}.json"
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        *strategies,
        f"--aicr-results={results}",
        f"--aicr-cache-dir={pytester.path / 'cache'}",
        *FAST,
        *args,
    )
    return outcome, read_results(results) if results.exists() else {}


def counts_of(data: dict[str, Any]) -> dict[str, Any]:
    return {name: v["counts"] for name, v in data["variants"].items()}


@pytest.fixture
def three_keys(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeServer], None]:
    def use(server: FakeServer) -> None:
        monkeypatch.setenv("AICR_BASE_URL", server.url)
        monkeypatch.setenv("AICR_API_KEYS", ",".join(KEYS))
        monkeypatch.setenv("PYTEST_ADDOPTS", WIDE_BUDGET)

    return use


@pytest.mark.parametrize("workers", ["0", "2"])
def test_faults_on_first_attempts_leave_the_counts_unchanged(
    pytester: pytest.Pytester, fake_server, three_keys, write_jsonl, workers: str
) -> None:
    faulty = Faulty(scripted)
    server = fake_server(faulty)
    three_keys(server)
    outcome, data = evaluate(
        pytester, write_jsonl("cases.jsonl", SAMPLES), "-n", workers
    )
    assert outcome.ret == 0, outcome.stdout.str()
    assert counts_of(data) == EXPECTED
    assert set(faulty.injected) == set(Faulty.KINDS)
    failures: Counter[str] = Counter()
    for entry in data["keys"].values():
        failures.update(entry["failures"])
    assert failures["429"] == faulty.injected["429"]
    assert failures["500"] == faulty.injected["500"]
    assert failures["timeout"] >= faulty.injected["timeout"]
    assert failures["connection"] >= faulty.injected["reset"]
    assert set(data["keys"]) == {f"...{key[-4:]}" for key in KEYS}
    outcome.stdout.fnmatch_lines(["key ...aaaa: * requests, * ok*latency p50=*"])


def test_a_rejected_key_leaves_the_run_to_the_other_two(
    pytester: pytest.Pytester, fake_server, three_keys, write_jsonl
) -> None:
    bad = KEYS[1][-4:]
    server = fake_server(
        lambda seen: Reply(status=401) if seen.key == bad else scripted(seen)
    )
    three_keys(server)
    outcome, data = evaluate(pytester, write_jsonl("cases.jsonl", SAMPLES), "-n", "0")
    assert outcome.ret == 0, outcome.stdout.str()
    assert counts_of(data) == EXPECTED
    rejected = data["keys"][f"...{bad}"]
    assert rejected["successes"] == 0
    assert rejected["failures"] == {"401": rejected["requests"]}
    # chains run concurrently: calls already holding the key when the first 401
    # lands may still be sent with it, but no later call is
    assert 1 <= rejected["requests"] <= len(data["samples"])


def test_replay_only_needs_no_server_and_refresh_asks_again(
    pytester: pytest.Pytester, fake_server, three_keys, write_jsonl
) -> None:
    server = fake_server(scripted)
    three_keys(server)
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    _, first = evaluate(pytester, dataset, "-p", "no:xdist")
    sent = len(server.seen)
    server.__exit__(None, None, None)

    outcome, replay = evaluate(pytester, dataset, "-p", "no:xdist", "--aicr-cache=ro")
    assert outcome.ret == 0, outcome.stdout.str()
    assert counts_of(replay) == counts_of(first) == EXPECTED
    assert replay["keys"] == {}
    calls = first["run"]["calls"]["cache"]
    assert calls["misses"] == calls["writes"] == sent
    outcome.stdout.fnmatch_lines(
        [f"cache: {calls['hits'] + calls['misses']} hits, 0 misses*"]
    )

    empty = f"--aicr-cache-dir={pytester.path / 'empty'}"
    outcome, _ = evaluate(pytester, dataset, "-p", "no:xdist", "--aicr-cache=ro", empty)
    assert outcome.ret == 1
    outcome.stdout.fnmatch_lines(["*cache_miss in check*no cached answer for sample*"])

    server = fake_server(scripted)
    three_keys(server)
    _, refreshed = evaluate(pytester, dataset, "-p", "no:xdist", "--aicr-cache=refresh")
    assert counts_of(refreshed) == EXPECTED
    assert len(server.seen) == sent


def test_an_outage_pauses_the_run_which_then_resumes(
    pytester: pytest.Pytester, fake_server, three_keys, write_jsonl
) -> None:
    started: list[float] = []

    def outage(seen: Seen) -> Reply:
        started.append(seen.at)
        if seen.at - started[0] < 1.0:
            return Reply(status=503, headers={"Retry-After": "0"})
        return scripted(seen)

    server = fake_server(outage)
    three_keys(server)
    outcome, data = evaluate(
        pytester,
        write_jsonl("cases.jsonl", SAMPLES),
        "-p",
        "no:xdist",
        "--aicr-breaker-cooldown=0.2",
        "--aicr-concurrency=2",
    )
    assert outcome.ret == 0, outcome.stdout.str()
    assert counts_of(data) == EXPECTED
    down = [s for s in server.seen if s.at - started[0] < 1.0]
    assert len(down) <= 12
    outcome.stdout.fnmatch_lines(
        [
            "endpoint paused by the circuit breaker: 5 consecutive failures*503*",
            "endpoint resumed after *",
        ]
    )
    events = [e["event"] for e in data["run"]["calls"]["breaker"]]
    assert events == ["paused", "resumed"]


def test_an_endpoint_that_stays_down_ends_items_as_breaker_open(
    pytester: pytest.Pytester, fake_server, three_keys, write_jsonl
) -> None:
    answered: list[int] = []

    def falls_over(seen: Seen) -> Reply:
        if len(answered) < 2:
            answered.append(1)
            return scripted(seen)
        return Reply(status=503)

    three_keys(fake_server(falls_over))
    outcome, data = evaluate(
        pytester,
        write_jsonl("cases.jsonl", SAMPLES),
        "-p",
        "no:xdist",
        "--aicr-breaker-cooldown=0.1",
        "--aicr-breaker-patience=0.5",
        "--aicr-concurrency=1",
        strategies=("--aicr-strategy=check",),
    )
    assert outcome.ret == 1
    samples = data["samples"]
    ok = [s for s in samples if s["status"] == "ok"]
    assert [s["input_id"] for s in ok] == ["P1", "P2"]
    assert {s["error"]["category"] for s in samples if s not in ok} == {"breaker_open"}
    outcome.stdout.fnmatch_lines(["*endpoint given up on after *"])
    assert "Traceback" not in outcome.stdout.str()


def test_a_prompt_too_long_for_the_model_is_an_error_without_a_call(
    pytester: pytest.Pytester, fake_server, three_keys, write_jsonl
) -> None:
    server = fake_server(scripted)
    three_keys(server)
    pytester.makefile(
        ".yaml",
        aicr="""
            variants:
              - name: small
                strategy: check
                models: m
                params: {check: {context_tokens: 2100, max_tokens: 2048}}
        """,
    )
    dataset = write_jsonl("cases.jsonl", SAMPLES[:2])
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}", "--aicr-config=aicr.yaml", "-p", "no:xdist"
    )
    assert outcome.ret == 1
    outcome.assert_outcomes(failed=2)
    outcome.stdout.fnmatch_lines(
        ["*too_long in check: the prompt needs about * tokens*holds 2100*"]
    )
    assert server.seen == []
