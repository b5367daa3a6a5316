"""Many processes reserve from one store at once; no key's budget is ever exceeded."""

from __future__ import annotations

import multiprocessing
import sqlite3
import uuid
from pathlib import Path

import pytest

from pytest_aicr.keypool import Budget, Reservation
from pytest_aicr.keys import ApiKey
from pytest_aicr.limiter_redis import RedisReservation
from pytest_aicr.limiter_sqlite import SqliteReservation

PROCESSES = 6
CALLS = 25
DIGESTS = [ApiKey(f"sk-hammer-{i}-000000000000", i).digest for i in range(4)]


def _open(where: str, budget: Budget) -> Reservation:
    if where.startswith("redis://"):
        return RedisReservation(where, budget)
    return SqliteReservation(Path(where), budget)


def hammer(where: str, budget: Budget) -> None:
    """Reserve as fast as possible; the slots are read back from the store."""
    store = _open(where, budget)
    for _ in range(CALLS):
        assert store.reserve(DIGESTS) is not None
    store.close()


def _run_processes(where: str, budget: Budget) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=hammer, args=(where, budget)) for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0


def _assert_within_budget(slots: dict[str, list[float]], budget: Budget) -> None:
    assert sum(len(times) for times in slots.values()) == PROCESSES * CALLS
    for times in slots.values():
        times.sort()
        gaps = [
            later - earlier
            for earlier, later in zip(times, times[budget.limit :], strict=False)
        ]
        assert min(gaps) >= budget.span - 1e-5


def test_sqlite_store_is_atomic_across_processes(tmp_path: Path) -> None:
    budget = Budget(limit=3, window=1000.0, run_id=uuid.uuid4().hex)
    path = tmp_path / "pool.sqlite3"
    SqliteReservation(path, budget).check()
    _run_processes(str(path), budget)
    slots: dict[str, list[float]] = {}
    with sqlite3.connect(path) as db:
        for digest, at in db.execute("SELECT digest, at FROM slot"):
            slots.setdefault(digest, []).append(at)
    _assert_within_budget(slots, budget)


def test_redis_store_is_atomic_across_processes(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    budget = Budget(limit=3, window=1000.0, run_id=uuid.uuid4().hex)
    _run_processes(redis_url, budget)
    slots = {
        digest: [float(v) for v in client.lrange(f"aicr:keypool:slots:{digest}", 0, -1)]
        for digest in DIGESTS
    }
    client.close()
    _assert_within_budget(slots, budget)


@pytest.mark.parametrize("limit", [1, 2])
def test_gap_check_would_see_an_overrun(limit: int) -> None:
    budget = Budget(limit=limit, window=10.0)
    overrun = {"k": [0.0] * (PROCESSES * CALLS)}
    with pytest.raises(AssertionError):
        _assert_within_budget(overrun, budget)
