"""The key pool: one per-key budget shared by every thread and process of a run.

A call asks the store for the key that can serve soonest, the store reserves that
key's next slot atomically, and the call sleeps until the slot opens. Because each
slot is reserved before anyone sleeps, waiting callers never poll and never wake
together, and they are served roughly in the order they arrived. The store is an
SQLite file on local disk (:mod:`pytest_aicr.limiter_sqlite`) or a Redis server
(:mod:`pytest_aicr.limiter_redis`); both apply the same :class:`Budget`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pytest_aicr.errors import NoKey, RunStopped
from pytest_aicr.keys import ApiKey

log = logging.getLogger("pytest_aicr")

DEFAULT_MARGIN = 0.05
STATE_TTL = 24 * 3600.0
LOCK_TIMEOUT = 10.0
MAX_REST = 3600.0
"""The longest a key rests after a 429, whatever the server asked or a store holds."""


@dataclass(frozen=True)
class Budget:
    """At most ``limit`` requests per key in any ``window`` seconds, plus a margin.

    The store spaces the slots of one key by ``span`` (the window widened by the
    margin), so a request that reaches the server a little late or early still
    falls inside the provider's budget.
    """

    limit: int
    window: float
    margin: float = DEFAULT_MARGIN
    run_id: str = ""

    @property
    def span(self) -> float:
        """The window as the store enforces it."""
        return self.window * (1.0 + self.margin)


class Reservation(Protocol):
    """A store that reserves key slots for the whole run."""

    notes: list[str]
    """Warnings for the run's summary (a store deleted and written again)."""

    def reserve(self, digests: Sequence[str]) -> tuple[int, float] | None:
        """Reserve the soonest slot: (index into ``digests``, seconds to wait).

        ``None`` when every key has been taken out for this run.
        """
        ...

    def cool_down(self, digest: str, seconds: float | None) -> float:
        """Rest a key after a 429; returns the seconds it will rest."""
        ...

    def remove(self, digest: str) -> None:
        """Take a key out for the rest of the run."""
        ...

    def close(self) -> None:
        """Release the process's connection."""
        ...


class KeyPool:
    """A :class:`~pytest_aicr.keys.KeySource` whose budget every process shares."""

    def __init__(
        self,
        keys: Sequence[ApiKey],
        store: Reservation,
        *,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self._keys = list(keys)
        self._store = store
        self._stopped = threading.Event()
        self._sleep = sleep or self._stopped.wait

    @property
    def keys(self) -> Sequence[ApiKey]:
        """Every key given to the run."""
        return self._keys

    def acquire(self) -> ApiKey:
        """Reserve the key that can serve soonest and sleep until its slot."""
        if self._stopped.is_set():
            raise RunStopped("the run stopped while this item waited for a key")
        if not self._keys:
            raise NoKey(
                "no API key: set AICR_API_KEYS (comma-separated) or OPENAI_API_KEY"
            )
        reserved = self._store.reserve([key.digest for key in self._keys])
        if reserved is None:
            raise NoKey(
                "no usable API key: every key was rejected with 401/403 in this run"
            )
        index, delay = reserved
        if delay > 0:
            self._sleep(delay)
        if self._stopped.is_set():
            raise RunStopped("the run stopped while this item waited for a key")
        return self._keys[index]

    def cool_down(self, key: ApiKey, seconds: float | None) -> None:
        """Rest the key for every process; ``None``: until its next slot, doubling."""
        rest = self._store.cool_down(key.digest, seconds)
        log.info("key %s rate limited: resting %.1f s", key.label, rest)

    def remove(self, key: ApiKey) -> None:
        """Take the key out for every process of this run."""
        self._store.remove(key.digest)
        log.warning("key %s rejected (401/403): taken out for this run", key.label)

    def stop(self) -> None:
        """Wake every waiting caller; later calls fail at once."""
        self._stopped.set()

    def close(self) -> None:
        """Stop and release the store connection."""
        self.stop()
        self._store.close()


# CI variables that name one pipeline run, shared by every runner of its matrix
_CI_RUN_VARIABLES = (
    ("GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT"),
    ("CI_PIPELINE_ID", None),
    ("BUILDKITE_BUILD_ID", None),
    ("CIRCLE_WORKFLOW_ID", None),
    ("BUILD_TAG", None),
)


def run_id(explicit: str | None = None) -> str:
    """The id that scopes run-level state (keys taken out) in the store.

    ``--aicr-run-id`` wins; else the CI system's run id, so the runners of one CI
    matrix share state and other pipelines do not; else xdist's one
    ``PYTEST_XDIST_TESTRUNUID`` for the controller and its workers; else a fresh
    id, as a run without xdist has one process.
    """
    if explicit:
        return explicit
    for name, attempt in _CI_RUN_VARIABLES:
        if os.environ.get(name):
            suffix = f"-{os.environ.get(attempt, '')}" if attempt else ""
            return f"{name.lower()}-{os.environ[name]}{suffix}"
    return os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex


def open_store(limiter: str | None, cache_dir: Path, budget: Budget) -> Reservation:
    """The store named by ``--aicr-limiter``, checked now so a bad one fails early.

    Without one, the SQLite file lives in the cache directory; when that cannot be
    created it lives in the system's temporary folder instead, under a name made
    from the cache directory, so every process of the run (and every run given the
    same cache directory) still shares one budget.

    Raises:
        ConfigError: the store cannot be opened or reached.

    """
    if limiter and limiter.startswith(("redis://", "rediss://", "unix://")):
        from pytest_aicr.limiter_redis import RedisReservation

        redis_store = RedisReservation(limiter, budget)
        redis_store.check()
        return redis_store
    from pytest_aicr.limiter_sqlite import SqliteReservation

    note = None
    if limiter:
        path = Path(limiter)
    else:
        path, note = _default_store_path(cache_dir)
    sqlite_store = SqliteReservation(path, budget)
    sqlite_store.check()
    if note is not None:
        log.warning("%s", note)
        sqlite_store.notes.append(note)
    return sqlite_store


def _default_store_path(cache_dir: Path) -> tuple[Path, str | None]:
    """The store's file in the cache directory, or a stand-in and why."""
    try:
        ensure_cache_dir(cache_dir)
    except OSError as exc:
        digest = hashlib.sha256(str(cache_dir.resolve()).encode("utf-8")).hexdigest()
        folder = Path(tempfile.gettempdir()) / f"pytest-aicr-{digest[:16]}"
        folder.mkdir(exist_ok=True)
        note = (
            f"cache directory {cache_dir} cannot be created ({exc.strerror or exc}): "
            f"the key pool lives in {folder} instead; choose a writable place with "
            "--aicr-cache-dir"
        )
        return folder / "keypool.sqlite3", note
    return cache_dir / "keypool.sqlite3", None


def ensure_cache_dir(path: Path) -> None:
    """Create the cache directory with a ``.gitignore`` that ignores it whole."""
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text(
            "# created by pytest-aicr; everything here can be deleted\n*\n",
            encoding="utf-8",
        )
