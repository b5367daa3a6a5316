"""The key pool's rules, on a real SQLite file and a real redis-server."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_aicr.errors import ConfigError, ConnectionFailed, NoKey
from pytest_aicr.keypool import (
    MAX_REST,
    Budget,
    KeyPool,
    Reservation,
    open_store,
)
from pytest_aicr.keys import ApiKey
from pytest_aicr.limiter_redis import RedisReservation
from pytest_aicr.limiter_sqlite import SqliteReservation

KEYS = [ApiKey(f"sk-test-{i}-0000000000000000", i) for i in range(3)]


class Clock:
    """A clock that moves only when told to, and a sleep that moves it."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


StoreFactory = Callable[[Budget, Clock], Reservation]


@pytest.fixture(params=["sqlite", "redis"])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StoreFactory]:
    """Build stores of one kind; each test gets a fresh namespace."""
    made: list[Reservation] = []
    run = uuid.uuid4().hex

    def make(budget: Budget, clock: Clock) -> Reservation:
        budget = Budget(
            budget.limit, budget.window, budget.margin, budget.run_id or run
        )
        store: Reservation
        if request.param == "sqlite":
            store = SqliteReservation(tmp_path / "pool.sqlite3", budget, clock=clock)
        else:
            url = request.getfixturevalue("redis_url")
            store = RedisReservation(url, budget, clock=clock)
            if not made:
                store._client.flushdb()
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def slots_of(store: Reservation, count: int, clock: Clock) -> list[tuple[int, float]]:
    taken = []
    for _ in range(count):
        reserved = store.reserve([k.digest for k in KEYS])
        assert reserved is not None
        index, delay = reserved
        taken.append((index, clock.now + delay))
    return taken


def test_slots_fill_every_key_then_wait_one_span(make_store: StoreFactory) -> None:
    clock = Clock()
    store = make_store(Budget(limit=2, window=10.0), clock)
    taken = slots_of(store, 9, clock)
    start = clock.now
    assert [at - start for _, at in taken[:6]] == [0.0] * 6
    assert [round(at - start, 6) for _, at in taken[6:]] == [10.5] * 3
    assert sorted(index for index, _ in taken[:6]) == [0, 0, 1, 1, 2, 2]


def test_ties_go_to_fewest_uses_then_least_recently_used(
    make_store: StoreFactory,
) -> None:
    clock = Clock()
    store = make_store(Budget(limit=3, window=60.0), clock)
    order = []
    for _ in range(5):
        reserved = store.reserve([k.digest for k in KEYS])
        assert reserved is not None
        order.append(reserved[0])
        clock.now += 1.0
    # fewest uses first (0, 1, 2), then the least recently used of equals (0, 1)
    assert order == [0, 1, 2, 0, 1]


def test_waiting_callers_are_served_first_come_first_served(
    make_store: StoreFactory,
) -> None:
    clock = Clock()
    store = make_store(Budget(limit=1, window=4.0, margin=0.0), clock)
    delays = []
    for _ in range(5):
        reserved = store.reserve([KEYS[0].digest])
        assert reserved is not None
        delays.append(reserved[1])
        clock.now += 0.5
    assert delays == pytest.approx([0.0, 3.5, 7.0, 10.5, 14.0])


def test_cool_down_after_429_rests_the_key_for_every_process(
    make_store: StoreFactory,
) -> None:
    clock = Clock()
    budget = Budget(limit=3, window=10.0, margin=0.0)
    store, other_process = make_store(budget, clock), make_store(budget, clock)
    digests = [KEYS[0].digest]
    store.reserve(digests)
    # no Retry-After: until the next slot (here a third of the window), doubling
    assert store.cool_down(digests[0], None) == pytest.approx(10 / 3)
    assert other_process.cool_down(digests[0], None) == pytest.approx(20 / 3)
    assert store.cool_down(digests[0], None) == pytest.approx(10.0)
    reserved = other_process.reserve(digests)
    assert reserved == (0, pytest.approx(10.0))
    # a Retry-After is taken as given
    clock.now += 100.0
    assert store.cool_down(digests[0], 2.0) == 2.0
    assert other_process.reserve(digests) == (0, pytest.approx(2.0))


def test_no_rest_outlasts_the_cap_even_one_stored_by_an_older_version(
    make_store: StoreFactory,
) -> None:
    clock = Clock()
    store = make_store(Budget(limit=3, window=10.0), clock)
    digest = KEYS[0].digest
    assert store.cool_down(digest, 99_999_999.0) == MAX_REST
    assert store.reserve([digest]) == (0, pytest.approx(MAX_REST))
    # a rest written years ahead, as older versions stored a huge Retry-After
    if isinstance(store, SqliteReservation):
        with store._transaction() as db:
            db.execute("UPDATE cool SET until = ?", (clock.now + 1e8,))
    else:
        assert isinstance(store, RedisReservation)
        store._client.hset(f"aicr:keypool:cool:{digest}", "until", clock.now + 1e8)
    clock.now += 1.0
    reserved = store.reserve([digest])
    assert reserved is not None
    assert reserved[1] <= MAX_REST


def test_cooled_key_is_skipped_while_another_can_serve(
    make_store: StoreFactory,
) -> None:
    clock = Clock()
    store = make_store(Budget(limit=3, window=10.0), clock)
    store.cool_down(KEYS[0].digest, 5.0)
    assert store.reserve([KEYS[0].digest, KEYS[1].digest]) == (1, 0.0)


def test_removed_key_is_out_for_the_run_only(make_store: StoreFactory) -> None:
    clock = Clock()
    budget = Budget(limit=3, window=10.0, run_id="run-a")
    store = make_store(budget, clock)
    digests = [KEYS[0].digest, KEYS[1].digest]
    store.remove(KEYS[0].digest)
    assert [store.reserve(digests)[0] for _ in range(3)] == [1, 1, 1]  # type: ignore[index]
    other_run = make_store(Budget(limit=3, window=10.0, run_id="run-b"), clock)
    assert other_run.reserve(digests) == (0, 0.0)
    store.remove(KEYS[1].digest)
    assert store.reserve(digests) is None


def test_pool_sleeps_once_until_its_slot_and_says_when_no_key_is_left(
    make_store: StoreFactory,
) -> None:
    clock = Clock()
    store = make_store(Budget(limit=1, window=8.0, margin=0.0), clock)
    pool = KeyPool(KEYS[:1], store, sleep=clock.sleep)
    assert pool.acquire() == KEYS[0]
    assert pool.acquire() == KEYS[0]
    assert clock.slept == [8.0]
    pool.remove(KEYS[0])
    with pytest.raises(NoKey, match="401/403"):
        pool.acquire()


def test_threads_are_served_in_arrival_order(make_store: StoreFactory) -> None:
    clock = Clock()
    store = make_store(Budget(limit=1, window=1.0, margin=0.0), clock)
    woke: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            woke.append(seconds)

    pool = KeyPool(KEYS[:1], store, sleep=sleep)
    threads = [threading.Thread(target=pool.acquire) for _ in range(8)]
    for thread in threads:
        thread.start()
        thread.join()
    assert woke == pytest.approx([float(i) for i in range(1, 8)])


def test_waiting_costs_no_cpu(tmp_path: Path) -> None:
    budget = Budget(limit=1, window=0.5, run_id="cpu")
    pool = KeyPool(KEYS[:1], SqliteReservation(tmp_path / "p.sqlite3", budget))
    pool.acquire()
    cpu, wall = time.process_time(), time.monotonic()
    pool.acquire()
    assert time.monotonic() - wall >= 0.5
    assert time.process_time() - cpu < 0.05


def test_stop_wakes_a_waiting_caller(tmp_path: Path) -> None:
    budget = Budget(limit=1, window=60.0, run_id="stop")
    pool = KeyPool(KEYS[:1], SqliteReservation(tmp_path / "p.sqlite3", budget))
    pool.acquire()
    failed: list[BaseException] = []

    def wait() -> None:
        try:
            pool.acquire()
        except Exception as exc:
            failed.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    pool.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert "stopped" in str(failed[0])


def test_a_locked_store_is_an_error_not_a_hang(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    budget = Budget(limit=1, window=60.0, run_id="lock")
    SqliteReservation(path, budget).check()
    import sqlite3

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        store = SqliteReservation(path, budget, lock_timeout=0.2)
        with pytest.raises(
            ConnectionFailed, match=r"locked by another process for more than 0\.2 s"
        ):
            store.reserve([KEYS[0].digest])
    finally:
        holder.rollback()
        holder.close()


def test_an_unreachable_store_stops_the_run_at_start(tmp_path: Path) -> None:
    budget = Budget(limit=1, window=60.0)
    with pytest.raises(ConfigError, match="cannot be reached"):
        open_store("redis://127.0.0.1:1/0", tmp_path, budget)
    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError, match="cannot be opened"):
        open_store(str(tmp_path / "folder"), tmp_path, budget)


def test_default_store_lives_in_an_ignored_cache_folder(tmp_path: Path) -> None:
    cache = tmp_path / ".aicr_cache"
    store = open_store(None, cache, Budget(limit=1, window=60.0))
    store.close()
    assert (cache / "keypool.sqlite3").is_file()
    assert (cache / ".gitignore").read_text(encoding="utf-8").endswith("*\n")


def test_a_pool_without_keys_says_how_to_give_them(tmp_path: Path) -> None:
    store = SqliteReservation(tmp_path / "p.sqlite3", Budget(limit=1, window=1.0))
    with pytest.raises(NoKey, match="set AICR_API_KEYS"):
        KeyPool([], store).acquire()
