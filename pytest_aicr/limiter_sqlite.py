"""The key pool's store in an SQLite file on local disk.

Every decision runs in one ``BEGIN IMMEDIATE`` transaction, which takes the file's
write lock first, so processes on one machine reserve slots one at a time. WAL
keeps readers out of the writer's way. The connection is opened on first use in
each process (never shared across a fork) and guarded by a lock between threads.
A store locked longer than ``lock_timeout``, damaged or unwritable is an error,
not a wait without end; after one such failure mid-run every later call fails at
once rather than go out without a budget. A store deleted mid-run (``rm -rf
.aicr_cache``) is written again, at this process's next reservation, from the copy
its open connection still reads, and the summary says so: a run that started in
between saw an empty store and may have spent the same slots.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from pytest_aicr.errors import ConfigError, KeyStoreFailed
from pytest_aicr.keypool import LOCK_TIMEOUT, MAX_REST, STATE_TTL, Budget

log = logging.getLogger("pytest_aicr")
_TABLES = ("slot", "cool", "removed")
_MERGE = {
    "slot": "INSERT INTO slot (digest, at) SELECT ?1, ?2 WHERE NOT EXISTS "
    "(SELECT 1 FROM slot WHERE digest = ?1 AND at = ?2)",
    "cool": "INSERT INTO cool (digest, until, strikes, last_hit) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (digest) DO UPDATE SET until = max(until, excluded.until), "
    "strikes = max(strikes, excluded.strikes), "
    "last_hit = max(last_hit, excluded.last_hit)",
    "removed": "INSERT OR IGNORE INTO removed (run, digest, expires) VALUES (?, ?, ?)",
}

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
        self._file: tuple[int, int] | None = None
        self._failure: KeyStoreFailed | None = None
        self.notes: list[str] = []

    def check(self) -> None:
        """Open the file and its tables now; a failure is a usage problem."""
        try:
            with self._transaction():
                pass
        except KeyStoreFailed as exc:
            raise ConfigError(str(exc)) from None

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
            seconds = min(seconds, MAX_REST)
            until = min(max(until, now + seconds), now + MAX_REST)
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
        # a rest stored by an older version may lie years ahead
        ready = max(now, min(cooled[0], now + MAX_REST) if cooled else now)
        limit = self.budget.limit
        if len(times) >= limit:
            ready = max(ready, times[-limit] + self.budget.span)
        return ready, len(times), times[-1] if times else float("-inf")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._failure is not None and self._pid == os.getpid():
                raise KeyStoreFailed(self._failure.message)
            try:
                db = self._connect()
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    with suppress(sqlite3.Error):
                        db.rollback()
                    raise
                db.commit()
            except (sqlite3.Error, OSError) as exc:
                self._failure = self._unavailable(exc)
                raise self._failure from None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            self._connection, self._pid = self._open(), os.getpid()
            self._failure = None
        elif _identity(self.path) != self._file:
            self._connection = self._recreate(self._connection)
        return self._connection

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path,
            timeout=self._lock_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        self._file = _identity(self.path)
        return db

    def _recreate(self, old: sqlite3.Connection) -> sqlite3.Connection:
        """The file was deleted or replaced: write it again from the open copy."""
        rows = {
            table: old.execute(f"SELECT * FROM {table}").fetchall() for table in _TABLES
        }
        old.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self._open()
        db.execute("BEGIN IMMEDIATE")
        for table in _TABLES:
            db.executemany(_MERGE[table], rows[table])
        db.commit()
        note = (
            f"key pool store {self.path} was deleted during the run and has been "
            "written again from this run's copy; a run that started meanwhile did "
            "not see this run's slots, and the two may have exceeded the budget"
        )
        log.warning("%s", note)
        if note not in self.notes:
            self.notes.append(note)
        return db

    def _unavailable(self, exc: sqlite3.Error | OSError) -> KeyStoreFailed:
        text = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        if "locked" in text or "busy" in text:
            why = (
                f"stayed locked by another process for more than "
                f"{self._lock_timeout:g} s ({text}); find the process holding it"
            )
        elif isinstance(exc, sqlite3.DatabaseError) and (
            "not a database" in text or "malformed" in text
        ):
            why = (
                f"is damaged ({text}); delete it (it holds only the slots of the "
                f"last {self.budget.window:g} s: wait that long first if another "
                "run uses the same keys)"
            )
        else:
            why = f"cannot be opened or written ({text})"
        return KeyStoreFailed(
            f"key pool store {self.path} {why}, or choose another file with "
            "--aicr-limiter PATH; no request is sent without it"
        )


def _identity(path: Path) -> tuple[int, int] | None:
    """Device and inode of the file, or None when it is gone."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino
