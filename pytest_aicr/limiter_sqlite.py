"""The key pool's store in an SQLite file on local disk.

Every decision runs in one ``BEGIN IMMEDIATE`` transaction, which takes the file's
write lock first, so processes on one machine reserve slots one at a time. WAL
keeps readers out of the writer's way. The connection is opened on first use in
each process (never shared across a fork) and guarded by a lock between threads.
A store locked longer than ``lock_timeout`` is an error, not a wait without end.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pytest_aicr.errors import ConfigError, ConnectionFailed
from pytest_aicr.keypool import LOCK_TIMEOUT, STATE_TTL, Budget

_SCHEMA = """
CREATE TABLE IF NOT EXISTS slot (digest TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS slot_by_digest ON slot (digest, at);
CREATE INDEX IF NOT EXISTS slot_by_time ON slot (at);
CREATE TABLE IF NOT EXISTS cool (
    digest TEXT PRIMARY KEY, until REAL NOT NULL, strikes INTEGER NOT NULL,
    last_hit REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS removed (
    run TEXT NOT NULL, digest TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (run, digest)
);
"""


class SqliteReservation:
    """Slots, cool-downs and removed keys in one SQLite file."""

    def __init__(
        self,
        path: Path,
        budget: Budget,
        *,
        clock: Callable[[], float] = time.time,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.path = path
        self.budget = budget
        self._clock = clock
        self._lock_timeout = lock_timeout
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0

    def check(self) -> None:
        """Open the file and its tables now; a failure is a usage problem."""
        try:
            with self._transaction():
                pass
        except (sqlite3.Error, ConnectionFailed) as exc:
            raise ConfigError(
                f"key pool store {self.path}: cannot be opened ({exc}); "
                "choose another place with --aicr-limiter PATH"
            ) from None

    def reserve(self, digests: Sequence[str]) -> tuple[int, float] | None:
        """Reserve the slot of the key that can serve soonest."""
        with self._transaction() as db:
            now = self._clock()
            span = self.budget.span
            db.execute("DELETE FROM slot WHERE at <= ?", (now - span,))
            removed = {
                row[0]
                for row in db.execute(
                    "SELECT digest FROM removed WHERE run = ? AND expires > ?",
                    (self.budget.run_id, now),
                )
            }
            best: tuple[float, int, float, int] | None = None
            for index, digest in enumerate(digests):
                if digest in removed:
                    continue
                ready, uses, last = self._readiness(db, digest, now)
                candidate = (ready, uses, last, index)
                if best is None or candidate < best:
                    best = candidate
            if best is None:
                return None
            ready, _, _, index = best
            db.execute(
                "INSERT INTO slot (digest, at) VALUES (?, ?)", (digests[index], ready)
            )
        return index, ready - now

    def cool_down(self, digest: str, seconds: float | None) -> float:
        """Rest the key; without ``seconds``: until its next slot, doubling."""
        with self._transaction() as db:
            now = self._clock()
            span = self.budget.span
            row = db.execute(
                "SELECT until, strikes, last_hit FROM cool WHERE digest = ?", (digest,)
            ).fetchone()
            until, strikes, last_hit = row if row else (0.0, 0, float("-inf"))
            strikes = strikes + 1 if now - last_hit < span else 1
            if seconds is None:
                ready, _, _ = self._readiness(db, digest, now)
                base = max(ready - now, span / self.budget.limit)
                seconds = min(span, base * 2 ** (strikes - 1))
            until = max(until, now + seconds)
            db.execute(
                "INSERT OR REPLACE INTO cool (digest, until, strikes, last_hit) "
                "VALUES (?, ?, ?, ?)",
                (digest, until, strikes, now),
            )
        return seconds

    def remove(self, digest: str) -> None:
        """Take the key out for this run; the mark expires by itself."""
        with self._transaction() as db:
            now = self._clock()
            db.execute("DELETE FROM removed WHERE expires <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO removed (run, digest, expires) "
                "VALUES (?, ?, ?)",
                (self.budget.run_id, digest, now + STATE_TTL),
            )

    def close(self) -> None:
        """Close this process's connection."""
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def _readiness(
        self, db: sqlite3.Connection, digest: str, now: float
    ) -> tuple[float, int, float]:
        """When the key can serve next, its uses in the window, its last use."""
        times = [
            row[0]
            for row in db.execute(
                "SELECT at FROM slot WHERE digest = ? ORDER BY at", (digest,)
            )
        ]
        cooled = db.execute(
            "SELECT until FROM cool WHERE digest = ?", (digest,)
        ).fetchone()
        ready = max(now, cooled[0] if cooled else now)
        limit = self.budget.limit
        if len(times) >= limit:
            ready = max(ready, times[-limit] + self.budget.span)
        return ready, len(times), times[-1] if times else float("-inf")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise self._unavailable(exc) from None
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            try:
                db.commit()
            except sqlite3.OperationalError as exc:
                raise self._unavailable(exc) from None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            try:
                db = sqlite3.connect(
                    self.path,
                    timeout=self._lock_timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from None
            self._connection, self._pid = db, os.getpid()
        return self._connection

    def _unavailable(self, exc: sqlite3.Error) -> ConnectionFailed:
        return ConnectionFailed(
            f"key pool store {self.path} unavailable or locked for more than "
            f"{self._lock_timeout:g} s ({exc})"
        )
