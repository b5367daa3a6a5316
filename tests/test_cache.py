"""The response cache on real files: modes, damage, sharing, many writers."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_aicr.accounting import CallStats
from pytest_aicr.cache import ResponseCache, request_key
from pytest_aicr.errors import CacheMiss

ENTRY = {"text": '{"comments": []}', "finish_reason": "stop", "usage": {}}
MESSAGES = [{"role": "user", "content": "review"}]


def cache(tmp_path: Path, mode: str = "rw") -> ResponseCache:
    return ResponseCache(tmp_path / "cache", mode, CallStats())


def counting(entry: dict[str, Any] = ENTRY) -> tuple[list[int], Any]:
    calls: list[int] = []

    def compute() -> dict[str, Any]:
        calls.append(1)
        return dict(entry)

    return calls, compute


def test_key_covers_endpoint_model_messages_params_and_nothing_else() -> None:
    base = request_key("http://h/v1", "m", MESSAGES, {"max_tokens": 5})
    assert base == request_key("http://h/v1/", "m", MESSAGES, {"max_tokens": 5})
    assert base != request_key("http://g/v1", "m", MESSAGES, {"max_tokens": 5})
    assert base != request_key("http://h/v1", "n", MESSAGES, {"max_tokens": 5})
    assert base != request_key("http://h/v1", "m", MESSAGES * 2, {"max_tokens": 5})
    assert base != request_key("http://h/v1", "m", MESSAGES, {"max_tokens": 6})


def test_rw_stores_and_replays(tmp_path: Path) -> None:
    store = cache(tmp_path)
    calls, compute = counting()
    assert store.fetch("ab" * 32, compute, "sample 'S'") == ENTRY
    assert store.fetch("ab" * 32, compute, "sample 'S'") == ENTRY
    assert len(calls) == 1
    assert (tmp_path / "cache" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert store._stats.cache == {"hits": 1, "misses": 1, "writes": 1, "damaged": 0}


def test_ro_miss_names_the_request(tmp_path: Path) -> None:
    calls, compute = counting()
    with pytest.raises(CacheMiss, match="sample 'S7'"):
        cache(tmp_path, "ro").fetch("cd" * 32, compute, "sample 'S7'")
    assert calls == []


def test_off_sends_every_request_and_stores_nothing(tmp_path: Path) -> None:
    store = cache(tmp_path, "off")
    calls, compute = counting()
    store.fetch("ab" * 32, compute, "s")
    store.fetch("ab" * 32, compute, "s")
    assert len(calls) == 2
    assert not (tmp_path / "cache").exists()


def test_refresh_asks_once_per_run_then_replays(tmp_path: Path) -> None:
    cache(tmp_path).fetch("ab" * 32, counting()[1], "s")
    store = cache(tmp_path, "refresh")
    new = {**ENTRY, "text": "new"}
    calls, compute = counting(new)
    assert store.fetch("ab" * 32, compute, "s") == new
    assert store.fetch("ab" * 32, compute, "s") == new
    assert len(calls) == 1
    assert cache(tmp_path, "ro").fetch("ab" * 32, compute, "s") == new


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],
        lambda text: "",
        lambda text: text.replace("comments", "commentz"),
        lambda text: json.dumps({"entry": {}}),
    ],
)
def test_damaged_entry_is_reported_once_and_recomputed(
    tmp_path: Path, damage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key = "ef" * 32
    cache(tmp_path).fetch(key, counting()[1], "s")
    path = tmp_path / "cache" / key[:2] / f"{key}.json"
    path.write_text(damage(path.read_text()))
    store = cache(tmp_path)
    assert store.read(key) is None
    assert store.read(key) is None
    calls, compute = counting()
    assert store.fetch(key, compute, "s") == ENTRY
    assert len(calls) == 1
    assert store._stats.cache["damaged"] == 1
    assert caplog.text.count("is damaged") == 1
    assert cache(tmp_path).read(key) == ENTRY


def test_leftover_temporary_files_are_ignored(tmp_path: Path) -> None:
    key = "12" * 32
    folder = tmp_path / "cache" / key[:2]
    folder.mkdir(parents=True)
    (folder / ".aicr-abandoned").write_text('{"half": ')
    assert cache(tmp_path).read(key) is None


def test_identical_requests_in_flight_are_sent_once(tmp_path: Path) -> None:
    store = cache(tmp_path)
    release = threading.Event()
    calls: list[int] = []

    def slow() -> dict[str, Any]:
        calls.append(1)
        release.wait(5)
        return dict(ENTRY)

    answers: list[dict[str, Any]] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(store.fetch("34" * 32, slow, "s"))
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    release.set()
    for thread in threads:
        thread.join(5)
    assert answers == [ENTRY] * 4
    assert len(calls) == 1


def test_with_cache_off_identical_requests_are_all_sent(tmp_path: Path) -> None:
    store = cache(tmp_path, "off")
    calls, compute = counting()
    threads = [
        threading.Thread(target=lambda: store.fetch("34" * 32, compute, "s"))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(calls) == 3


def _hammer(directory: str, worker: int) -> int:
    store = ResponseCache(Path(directory), "rw", CallStats())
    torn = 0
    for round_ in range(150):
        key = f"{round_ % 5:02d}" * 32
        store.write(key, {**ENTRY, "text": f"w{worker} r{round_} " + "x" * 4000})
        found = store.read(key)
        torn += found is None or not found["text"].endswith("x" * 4000)
    return torn


def test_many_processes_writing_at_once_never_tear_an_entry(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        torn = pool.starmap(_hammer, [(str(tmp_path / "cache"), w) for w in range(4)])
    assert torn == [0, 0, 0, 0]
    assert not list((tmp_path / "cache").glob("*/.aicr-*"))
