"""Damaged files on disk give a clear message and never wrong counts.

Each test runs the plugin end to end against the fake server on 127.0.0.1, then
damages what the run left on disk (cache entries, the key-pool database) or makes
a place unwritable, and runs again.
"""

from __future__ import annotations

import json
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
