"""Chains start before pytest reaches their items, in one process or per shard."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from pytest_aicr.scheduler import shard_of, worker_rank
from tests.conftest import WIDE_BUDGET, read_results
from tests.fakeserver import Reply, Seen, comments_reply

HELPFUL = "The loop never ends when `items` is empty; add a guard before it."
SAMPLES: list[dict[str, Any]] = [
    {
        "input_id": f"S{i:02d}",
        "code": f"+value = compute({i}) # S{i:02d}",
        "outputs": [{"output": HELPFUL, "is_like": 0}] if i % 3 else [],
        "priority": -i if i % 4 == 0 else 0,
    }
    for i in range(12)
]
DELAY = 0.3


def _sample_of(seen: Seen) -> str:
    found = re.search(r"# (S\d\d)", seen.prompt)
    assert found is not None
    return found.group(1)


def answer_slowly(seen: Seen) -> Reply:
    number = int(_sample_of(seen)[1:])
    reply = comments_reply(HELPFUL) if number % 2 else comments_reply()
    reply.delay = DELAY
    return reply


def most_in_flight(seen: list[Seen]) -> int:
    events = sorted(
        [(s.at, 1) for s in seen] + [(s.at + DELAY, -1) for s in seen],
        key=lambda event: (event[0], event[1]),
    )
    level = best = 0
    for _, step in events:
        level += step
        best = max(best, level)
    return best


def _comparable(results: dict[str, Any]) -> dict[str, Any]:
    return {"variants": results["variants"], "samples": results["samples"]}


@pytest.mark.parametrize("model", ["m", "builtin:rules"])
def test_shards_and_prefetch_give_the_results_of_one_process(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl, model: str
) -> None:
    endpoint_env(fake_server(answer_slowly))
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    seen = {}
    for mode in (["-n", "0"], ["-n", "2"], ["-p", "no:xdist"]):
        results = pytester.path / f"results{len(seen)}.json"
        outcome = pytester.runpytest(
            f"--aicr-dataset={dataset}",
            f"--aicr-model={model}",
            f"--aicr-results={results}",
            *mode,
        )
        assert outcome.ret == 0, outcome.stdout.str()
        seen[" ".join(mode)] = _comparable(read_results(results))
    first = seen["-n 0"]
    assert first["variants"][f"check@{model}"]["samples"] == 12
    assert seen["-n 2"] == first
    assert seen["-p no:xdist"] == first


@pytest.mark.parametrize("workers", ["0", "2"])
def test_items_run_ahead_on_the_thread_pool(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl, workers: str
) -> None:
    server = fake_server(answer_slowly)
    endpoint_env(server)
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-concurrency=4",
        "-n",
        workers,
    )
    assert outcome.ret == 0
    assert len(server.seen) == 12
    if workers == "2":
        # workers keep chains in flight (one item at a time would show at most 2,
        # one per worker); whether both overlap depends on their start-up times
        assert most_in_flight(server.seen) >= 4
        return
    assert most_in_flight(server.seen) == 4
    # smaller priority first: S08, S04, then S00 and S01 in file order
    first = sorted(server.seen, key=lambda s: s.at)[:4]
    assert {_sample_of(s) for s in first} == {"S08", "S04", "S00", "S01"}


def test_each_worker_runs_its_fixed_shard(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    endpoint_env(fake_server(answer_slowly))
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}", "--aicr-model=m", "-n", "2", "-v"
    )
    assert outcome.ret == 0
    ran_on = dict(
        (match.group(2), match.group(1))
        for match in re.finditer(
            r"\[(gw\d)\] \[[ \d%]+\] \S+ \S*::(S\d\d)", outcome.stdout.str()
        )
    )
    assert len(ran_on) == 12
    listed = pytester.runpytest(
        f"--aicr-dataset={dataset}", "--aicr-model=m", "-p", "no:xdist", "--co", "-q"
    )
    order = re.findall(r"::(S\d\d)\[", listed.stdout.str())
    assert sorted(order) == sorted(ran_on)
    for index, sample in enumerate(order):
        assert index in shard_of(12, worker_rank(ran_on[sample]), 2)


def test_shard_rule() -> None:
    assert list(shard_of(7, 1, 3)) == [1, 4]
    assert list(shard_of(7, 3, 3)) == []
    assert (worker_rank("gw12"), worker_rank("main")) == (12, -1)


def test_deselected_items_are_not_started(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    server = fake_server(answer_slowly)
    endpoint_env(server)
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}", "--aicr-model=m", "-k", "S03 or S07"
    )
    outcome.assert_outcomes(passed=2)
    assert sorted(_sample_of(s) for s in server.seen) == ["S03", "S07"]


def test_collect_only_starts_nothing(
    pytester: pytest.Pytester, fake_server, endpoint_env, write_jsonl
) -> None:
    server = fake_server(answer_slowly)
    endpoint_env(server)
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    pytester.runpytest(f"--aicr-dataset={dataset}", "--aicr-model=m", "--co")
    assert server.seen == []


@pytest.mark.parametrize("stop", [["-x"], ["--maxfail=2"]])
def test_stopping_early_cancels_waiting_items_without_a_hang(
    pytester: pytest.Pytester,
    fake_server,
    endpoint_env,
    write_jsonl,
    monkeypatch: pytest.MonkeyPatch,
    stop: list[str],
) -> None:
    endpoint_env(fake_server(lambda seen: Reply(status=400, body="{}")))
    # four requests a minute and four chain threads: the first four items get a
    # slot at once (whichever thread reserves first), the rest wait a minute
    monkeypatch.setenv(
        "PYTEST_ADDOPTS",
        "--aicr-rate-limit=4 --aicr-rate-window=60 --aicr-concurrency=4",
    )
    in_order = [{k: v for k, v in s.items() if k != "priority"} for s in SAMPLES]
    dataset = write_jsonl("cases.jsonl", in_order)
    started = time.monotonic()
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}", "--aicr-model=m", "-p", "no:xdist", *stop
    )
    assert time.monotonic() - started < 30
    assert outcome.ret == 1
    outcome.assert_outcomes(failed=int(stop[0][-1]) if stop[0] != "-x" else 1)


def test_429_rests_the_key_and_401_takes_it_out(
    pytester: pytest.Pytester,
    fake_server,
    write_jsonl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = {"aaaa": 0, "bbbb": 0, "cccc": 0}

    def script(seen: Seen) -> Reply:
        keys[seen.key] += 1
        if seen.key == "aaaa":
            return Reply(status=429, headers={"retry-after": "300"})
        if seen.key == "bbbb":
            return Reply(status=401)
        return comments_reply()

    server = fake_server(script)
    monkeypatch.setenv("AICR_BASE_URL", server.url)
    monkeypatch.setenv(
        "AICR_API_KEYS",
        ",".join(f"sk-test-000000000000{k}" for k in keys),
    )
    monkeypatch.setenv("PYTEST_ADDOPTS", WIDE_BUDGET)
    dataset = write_jsonl("cases.jsonl", SAMPLES)
    outcome = pytester.runpytest(
        f"--aicr-dataset={dataset}",
        "--aicr-model=m",
        "--aicr-concurrency=1",
        "-p",
        "no:xdist",
    )
    assert outcome.ret == 0, outcome.stdout.str()
    # the 429 and the 401 each move their call to the next key; none is lost
    assert keys == {"aaaa": 1, "bbbb": 1, "cccc": 12}
    assert "sk-test" not in outcome.stdout.str()
