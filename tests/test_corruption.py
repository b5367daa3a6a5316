"""Damaged files on disk give a clear message and never wrong counts.

Each test runs the plugin end to end against the fake server on 127.0.0.1, then
damages what the run left on disk (cache entries, the key-pool database) or makes
a place unwritable, and runs again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import read_results
from tests.fakeserver import FakeServer
from tests.test_end_to_end import SAMPLES, scripted

CHECK = {"tp": 2, "fp": 2, "fn": 1, "tn": 1, "ro": 1}


def evaluate(
    pytester: pytest.Pytester, dataset: Path, *args: str
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """One check-strategy run with its cache under the pytester folder."""
    results = pytester.path / "results.json"
    results.unlink(missing_ok=True)
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-strategy=check",
        "--aicr-max-errors=1",
        f"--aicr-results={results}",
        f"--aicr-cache-dir={pytester.path / 'cache'}",
        "-p",
        "no:xdist",
        *args,
    )
    return outcome, read_results(results) if results.exists() else {}


def counts_of(data: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = data["variants"]["check@m"]["counts"]
    return counts


def assert_clean(text: str) -> None:
    """The user saw messages, not a crash."""
    assert "Traceback" not in text, text
    assert "INTERNALERROR" not in text, text


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("??/*.json"))


def test_damaged_cache_entries_are_named_ignored_and_asked_again(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    server: FakeServer = fake_server(scripted)
    endpoint_env(server)
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    outcome, data = evaluate(pytester, dataset)
    assert outcome.ret == 0, outcome.stdout.str()
    assert counts_of(data) == CHECK
    files = entries(pytester.path / "cache")
    assert len(files) == len(SAMPLES) == len(server.seen)

    truncated, garbage, wrong_shape, other_key, empty, _ = files
    truncated.write_text(truncated.read_text()[:40])
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" + bytes(range(256)))
    wrong_shape.write_text(json.dumps(["comments", {"entry": 1}]))
    other_key.write_text(files[-1].read_text())
    empty.write_bytes(b"")
    damaged = files[:5]

    outcome, data = evaluate(pytester, dataset)
    assert outcome.ret == 0, outcome.stdout.str()
    assert counts_of(data) == CHECK
    assert len(server.seen) == len(SAMPLES) + len(damaged)
    assert data["run"]["calls"]["cache"]["damaged"] == len(damaged)
    text = outcome.stdout.str()
    for path in damaged:
        assert text.count(f"cache entry {path} ") == 1, text
    outcome.stdout.fnmatch_lines(["cache: 1 hits, 5 misses, 5 written, 5 damaged*"])
    assert_clean(text)


BUDGET = ("--aicr-rate-limit=2", "--aicr-rate-window=3", "--aicr-concurrency=1")


def test_a_key_pool_deleted_mid_run_is_written_again_so_the_next_run_waits(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    store = pytester.path / "cache" / "keypool.sqlite3"
    deleted: list[Path] = []

    def delete_the_store_once(seen: Any) -> Any:
        if not deleted:
            deleted.extend(store.parent.glob("keypool.sqlite3*"))
            for path in deleted:
                path.unlink()
        return scripted(seen)

    server: FakeServer = fake_server(delete_the_store_once)
    endpoint_env(server)
    outcome, _ = evaluate(pytester, write_jsonl("first.jsonl", SAMPLES[:4]), *BUDGET)
    assert outcome.ret == 0, outcome.stdout.str()
    assert store in deleted
    outcome.stdout.fnmatch_lines(
        [f"key pool store {store} was deleted during the run*"]
    )
    assert store.is_file()

    # a run right after must wait for the slots the first one spent
    outcome, data = evaluate(
        pytester, write_jsonl("second.jsonl", SAMPLES[4:5]), *BUDGET
    )
    assert outcome.ret == 0, outcome.stdout.str()
    assert len(server.seen) == 5
    assert server.over_budget(2, 3.0) == 0
    assert data["keys"]["...wxyz"]["waited_s"] > 1


def test_a_damaged_key_pool_stops_the_run_before_any_call(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    server: FakeServer = fake_server(scripted)
    endpoint_env(server)
    store = pytester.path / "cache" / "keypool.sqlite3"
    store.parent.mkdir()
    store.write_bytes(b"SQLite format 2\x00" + bytes(range(256)) * 8)
    outcome, data = evaluate(pytester, write_jsonl("cases.jsonl", SAMPLES))
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines(
        [f"ERROR: key pool store {store} is damaged (file is not a database); delete*"]
    )
    assert_clean(outcome.stdout.str() + outcome.stderr.str())
    assert server.seen == []
    assert data == {}


def test_a_key_pool_under_a_file_is_a_clear_usage_error(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    server: FakeServer = fake_server(scripted)
    endpoint_env(server)
    blocker = pytester.path / "not-a-folder"
    blocker.write_text("a file where a folder should be\n")
    outcome, _ = evaluate(
        pytester,
        write_jsonl("cases.jsonl", SAMPLES),
        f"--aicr-limiter={blocker / 'keypool.sqlite3'}",
    )
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines(
        ["ERROR: key pool store * cannot be opened or written (unable to open*"]
    )
    assert_clean(outcome.stdout.str() + outcome.stderr.str())
    assert server.seen == []


def test_a_key_pool_locked_by_another_process_is_named_not_waited_on_forever(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    server: FakeServer = fake_server(scripted)
    endpoint_env(server)
    store = pytester.path / "cache" / "keypool.sqlite3"
    outcome, _ = evaluate(pytester, write_jsonl("warm.jsonl", SAMPLES[:1]))
    assert outcome.ret == 0, outcome.stdout.str()
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(store)],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        outcome, _ = evaluate(pytester, write_jsonl("cases.jsonl", SAMPLES[1:]))
        waited = time.monotonic() - started
        holder.kill()
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    outcome.stderr.fnmatch_lines(
        [f"ERROR: key pool store {store} stayed locked by another process for more*"]
    )
    assert_clean(outcome.stdout.str() + outcome.stderr.str())
    assert len(server.seen) == 1
    assert waited < 30


HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
time.sleep(60)
"""
