"""Damaged files on disk give a clear message and never wrong counts.

Each test runs the plugin end to end against the fake server on 127.0.0.1, then
damages what the run left on disk (cache entries, the key-pool database) or makes
a place unwritable, and runs again.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_aicr.errors import KeyStoreFailed
from pytest_aicr.keypool import Budget
from pytest_aicr.limiter_sqlite import SqliteReservation
from tests.conftest import read_results
from tests.fakeserver import FakeServer
from tests.test_end_to_end import SAMPLES, scripted

CHECK = {"tp": 2, "fp": 2, "fn": 1, "tn": 1, "ro": 1}


def evaluate(
    pytester: pytest.Pytester,
    dataset: Path,
    *args: str,
    workers: tuple[str, ...] = ("-p", "no:xdist"),
    own_cache: bool = True,
) -> tuple[pytest.RunResult, dict[str, Any]]:
    """One check-strategy run, its cache under the pytester folder if ``own_cache``."""
    results = pytester.path / "results.json"
    results.unlink(missing_ok=True)
    cache = [f"--aicr-cache-dir={pytester.path / 'cache'}"] if own_cache else []
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-strategy=check",
        "--aicr-max-errors=1",
        f"--aicr-results={results}",
        *cache,
        *workers,
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


@pytest.mark.parametrize("workers", [("-p", "no:xdist"), ("-n", "2")])
def test_damaged_cache_entries_are_named_ignored_and_asked_again(
    pytester: pytest.Pytester,
    fake_server,
    endpoint_env,
    write_jsonl,
    workers: tuple[str, ...],
) -> None:
    server: FakeServer = fake_server(scripted)
    endpoint_env(server)
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    outcome, data = evaluate(pytester, dataset, workers=workers)
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

    outcome, data = evaluate(pytester, dataset, workers=workers)
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
    assert data["keys"]["...wxyz"]["waited_s"] > 0


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


def test_a_key_pool_locked_mid_run_fails_the_rest_at_once_without_sending(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    store = pytester.path / "cache" / "keypool.sqlite3"
    holders: list[subprocess.Popen[str]] = []

    def lock_the_store_after_the_first_request(seen: Any) -> Any:
        if not holders:
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLD_LOCK, str(store)],
                stdout=subprocess.PIPE,
                text=True,
            )
            holders.append(holder)
            assert holder.stdout is not None
            holder.stdout.readline()
        return scripted(seen)

    server: FakeServer = fake_server(lock_the_store_after_the_first_request)
    endpoint_env(server)
    try:
        started = time.monotonic()
        outcome, data = evaluate(
            pytester,
            write_jsonl("cases.jsonl", SAMPLES[:4]),
            "--aicr-concurrency=1",
            "--aicr-retry-attempts=2",
        )
        took = time.monotonic() - started
    finally:
        for holder in holders:
            holder.kill()
            holder.communicate()
    assert outcome.ret == pytest.ExitCode.TESTS_FAILED
    assert_clean(outcome.stdout.str())
    assert len(server.seen) == 1
    errors = [s["error"] for s in data["samples"] if s["status"] == "error"]
    assert len(errors) == 3
    assert {e["category"] for e in errors} == {"connection"}
    assert all("stayed locked by another process" in e["message"] for e in errors)
    assert took < 10 + 15


HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
time.sleep(60)
"""


FULL_DISK = '''
"""Every temporary file made under ./full is opened on ./full-device: ENOSPC."""
import os
import tempfile
from pathlib import Path

FULL = (Path(__file__).parent / "full").resolve()
DEVICE = str(Path(__file__).parent / "full-device")
REAL_MKSTEMP = tempfile.mkstemp


def on_full_disk(*args, dir=None, **kwargs):
    if dir is not None and Path(dir).resolve().is_relative_to(FULL):
        return os.open(DEVICE, os.O_WRONLY), str(Path(dir) / ".never-written")
    return REAL_MKSTEMP(*args, dir=dir, **kwargs)


def pytest_configure(config):
    tempfile.mkstemp = on_full_disk


def pytest_unconfigure(config):
    tempfile.mkstemp = REAL_MKSTEMP
'''


def full_device(path: Path) -> Path:
    """A private node of the kernel's full device (1, 7): every write fails ENOSPC.

    The tests never touch /dev itself; making a node needs root, as here and in CI.
    """
    if not path.exists():
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        except PermissionError:
            pytest.skip("making a device node needs root")
    return path


def full_disk_run(
    pytester: pytest.Pytester, *, results: Path, cache: Path, xlsx: Path, html: Path
) -> pytest.RunResult:
    """A check-strategy run whose outputs go where the test says."""
    pytester.makeconftest(FULL_DISK)
    (pytester.path / "full").mkdir()
    full_device(pytester.path / "full-device")
    return pytester.runpytest(
        f"--aicr-dataset={pytester.path / 'cases.jsonl'}",
        "--aicr-model=m",
        "--aicr-strategy=check",
        "--aicr-max-errors=1",
        f"--aicr-results={results}",
        f"--aicr-cache-dir={cache}",
        f"--aicr-xlsx={xlsx}",
        f"--html={html}",
        "-p",
        "no:xdist",
    )


def test_a_full_disk_under_the_workbook_and_report_keeps_the_results(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(scripted))
    write_jsonl("cases.jsonl", SAMPLES)
    # the workbook is renamed into place; pytest-html writes its report directly
    xlsx, html = pytester.path / "full" / "out.xlsx", pytester.path / "report.html"
    html.symlink_to(full_device(pytester.path / "full-device"))
    results = pytester.path / "results.json"
    outcome = full_disk_run(
        pytester, results=results, cache=pytester.path / "cache", xlsx=xlsx, html=html
    )
    assert outcome.ret == pytest.ExitCode.TESTS_FAILED
    text = outcome.stdout.str()
    assert_clean(text)
    outcome.stdout.fnmatch_lines(
        [
            "check@m: 6 items",
            f"workbook not written to {xlsx}: No space left on device",
            f"html report not written to {html}: No space left on device",
        ]
    )
    assert counts_of(read_results(results)) == CHECK
    assert list((pytester.path / "full").iterdir()) == []


def test_a_full_disk_under_the_results_and_cache_keeps_the_summary_and_workbook(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    server: FakeServer = fake_server(scripted)
    endpoint_env(server)
    write_jsonl("cases.jsonl", SAMPLES)
    full = pytester.path / "full"
    results, xlsx = full / "results.json", pytester.path / "out.xlsx"
    outcome = full_disk_run(
        pytester,
        results=results,
        cache=full / "cache",
        xlsx=xlsx,
        html=pytester.path / "report.html",
    )
    assert outcome.ret == pytest.ExitCode.TESTS_FAILED
    assert_clean(outcome.stdout.str())
    outcome.stdout.fnmatch_lines(
        [
            "check@m: 6 items",
            "  counts   tp=2  fp=2  fn=1  tn=1  ro=1",
            f"response cache {full / 'cache'}: answers not written (No space left on*",
            f"results not written to {results}: No space left on device",
        ]
    )
    assert outcome.stdout.str().count("answers not written") == 1
    assert not results.exists()
    assert list(full.rglob("*.json")) == []
    assert len(server.seen) == len(SAMPLES)
    from openpyxl import load_workbook

    assert load_workbook(xlsx)["items"].max_row == len(SAMPLES) + 1
    assert (pytester.path / "report.html").stat().st_size > 0


def test_a_key_pool_whose_folder_became_a_file_fails_once_then_at_once(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    store = SqliteReservation(
        folder / "keypool.sqlite3", Budget(limit=1, window=60.0), lock_timeout=0.2
    )
    store.check()
    assert store.reserve(["k"]) == (0, 0.0)
    shutil.rmtree(folder)
    folder.write_text("a file where the folder was\n")
    with pytest.raises(KeyStoreFailed, match=r"cannot be opened or written \(File"):
        store.reserve(["k"])
    started = time.monotonic()
    with pytest.raises(KeyStoreFailed, match="no request is sent without it"):
        store.reserve(["k"])
    assert time.monotonic() - started < 0.1
    store.close()


def test_results_and_workbook_paths_that_are_not_files_are_left_alone(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    import os
    import stat

    endpoint_env(fake_server(scripted))
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    results, xlsx = pytester.path / "results.json", pytester.path / "out.xlsx"
    os.mkfifo(results)
    try:
        os.mknod(xlsx, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip(f"cannot make a device node here: {exc}")

    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        f"--aicr-results={results}",
        f"--aicr-xlsx={xlsx}",
        "-p",
        "no:xdist",
    )

    assert outcome.ret == pytest.ExitCode.TESTS_FAILED
    outcome.stdout.fnmatch_lines(
        [
            f"results not written to {results}: {results} is not a regular file*",
            f"workbook not written to {xlsx}: {xlsx} is not a regular file*",
        ]
    )
    assert results.is_fifo()
    assert stat.S_ISCHR(os.lstat(xlsx).st_mode)
